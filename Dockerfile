# syntax=docker/dockerfile:1
# The offload image: the API, every worker and the migrations run from it; the command picks which
# (see docker-compose.yml). TypeScript runs through tsx: there is no compile step, only the Temporal
# workflow bundle is built ahead, so workers start without bundling.
#
#   docker build -t offload .
#   docker run --rm -e DATABASE_URL=... -e TEMPORAL_ADDRESS=... -p 3000:3000 offload
#   docker run --rm -e DATABASE_URL=... -e TEMPORAL_ADDRESS=... offload \
#     node --max-semi-space-size=4 --import tsx src/worker/index.ts --queues exports

ARG NODE_IMAGE=node:20-slim

# MARK: deps: every dependency, dev ones included, to build the workflow bundle
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

# MARK: build: dist/workflow-bundle.js, loaded by workers through WORKFLOW_BUNDLE_PATH
FROM deps AS build
COPY . .
RUN npm run build:bundle

# MARK: prod-deps: runtime dependencies only
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
# tsx is a runtime dependency: it runs the TypeScript sources.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

# MARK: runtime
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    HOST=0.0.0.0 \
    PORT=3000 \
    STORAGE_DIR=/data/storage \
    WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
WORKDIR /app
# The speech engine and encoders of the audio workers (Debian main); the API lists voices with espeak-ng.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng lame ffmpeg \
 && rm -rf /var/lib/apt/lists/*
# Owned by root and read-only for the app user; only the storage directory is writable.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json package-lock.json tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src
RUN mkdir -p /data/storage && chown node:node /data/storage
# The `node` user (uid 1000) ships with the official image.
USER node
EXPOSE 3000
# `node --import tsx` rather than the tsx CLI: one process, which receives SIGTERM itself.
CMD ["node", "--import", "tsx", "src/server/index.ts"]
