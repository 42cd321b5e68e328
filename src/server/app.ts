/** createApp(deps): the HTTP API as a Hono app, with problem+json errors and a generated OpenAPI document. */
import type { Server } from 'node:http';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { jobKinds } from '../kinds/index.js';
import type { AppDeps } from './deps.js';
import { bearerAuth } from './http/auth.js';
import { requestBodyLimit } from './http/body-limit.js';
import { answerClientErrors } from './http/client-errors.js';
import type { AppEnv } from './http/context.js';
import { dependencyUnavailable } from './http/dependency-errors.js';
import { registerDocs } from './http/docs.js';
import { checkReadiness } from './http/health.js';
import { createApiMetrics, requireMetricsToken } from './http/metrics.js';
import { HttpProblem, problemResponse } from './http/problem.js';
import { rateLimit } from './http/rate-limit.js';
import { declareSharedResponses, methodNotAllowed, requireDeclaredBody } from './http/routes-contract.js';
import { queryTimeoutProblem } from './http/statement-timeout.js';
import { traceRequests } from './http/tracing.js';
import { validationHook } from './http/validation.js';
import { JobWatchHub } from './jobs/job-watch.js';
import { registerDashboardRoutes } from './routes/dashboard.js';
import { registerDownloadRoutes } from './routes/downloads.js';
import { registerEstimateRoute } from './routes/export-estimate.js';
import { registerPartRoutes } from './routes/parts.js';
import { registerJobActionRoutes } from './routes/job-actions.js';
import { registerJobKindRoutes, type KindDocument } from './routes/job-kinds.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerMeRoutes } from './routes/me.js';
import { registerNotificationRoutes } from './routes/notifications.js';
import { attachJobSocket, registerSocketRoute } from './routes/ws.js';

export interface App {
  app: OpenAPIHono<AppEnv>;
  /** Shared pollers behind SSE and WebSocket watchers. */
  hub: JobWatchHub;
  /**
   * Attach to the HTTP server what is not a fetch handler: problem+json answers to requests Node's parser
   * refuses, and the job WebSocket (`/v1/ws`). Returns a function closing the WebSocket connections.
   */
  attachServer: (server: Server) => () => void;
}

/**
 * `/openapi.json`: the document generated from the routes' zod schemas (once), with what only the running
 * kinds know added to their bodies (e.g. the speech engine's voices), asked for on each request.
 */
function openApiDocument(app: OpenAPIHono<AppEnv>, kinds: KindDocument[]) {
  let base: string | undefined;
  return async (c: Context) => {
    base ??= JSON.stringify(
      app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'offload',
          version: '0.1.0',
          description: 'Heavy requests off the request path, on Temporal.',
        },
      }),
    );
    const doc = JSON.parse(base) as {
      components: { schemas: Record<string, { properties?: Record<string, object>; allOf?: object[] }> };
    };
    for (const kind of kinds) {
      const body = doc.components.schemas[kind.schemaName];
      const extra = await kind.bodySchema();
      if (!body?.properties) continue;
      for (const [name, keywords] of Object.entries(extra.properties)) {
        const prop = body.properties[name];
        if (prop) body.properties[name] = { ...prop, ...keywords };
      }
      if (extra.allOf?.length) body.allOf = [...(body.allOf ?? []), ...extra.allOf];
    }
    return c.json(doc);
  };
}

export function createApp(deps: AppDeps): App {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const metrics = createApiMetrics(deps.database.sql);
  app.use('*', traceRequests());
  app.use('*', metrics.middleware);
  // Before anything reads a body (authentication included): over API_BODY_LIMIT_BYTES is 413.
  app.use('*', requestBodyLimit(deps.config.API_BODY_LIMIT_BYTES));
  const hub = new JobWatchHub(deps, deps.config.EVENTS_POLL_INTERVAL_MS);

  app.onError((err, c) => {
    if (err instanceof HttpProblem) return problemResponse(c, err);
    if (err instanceof HTTPException) {
      // Hono's own errors, e.g. a body that is not valid JSON.
      const code = err.status === 400 ? 'malformed-request' : 'http-error';
      return problemResponse(c, new HttpProblem(err.status, code, err.message || 'Bad Request', err.message));
    }
    // A query past API_STATEMENT_TIMEOUT_MS: 503 with Retry-After, not a 500.
    const timedOut = queryTimeoutProblem(err);
    if (timedOut) {
      deps.log.warn({ path: c.req.path, method: c.req.method }, 'database query timed out');
      return problemResponse(c, timedOut);
    }
    // PostgreSQL or Temporal down or restarting: 503 with Retry-After, not a 500.
    const unavailable = dependencyUnavailable(err);
    if (unavailable) {
      const { dependency, reason } = unavailable;
      deps.log.warn({ dependency, reason, path: c.req.path, method: c.req.method }, 'dependency unavailable');
      return problemResponse(c, unavailable.problem);
    }
    deps.log.error({ err, path: c.req.path, method: c.req.method }, 'unhandled error');
    return problemResponse(
      c,
      new HttpProblem(500, 'internal', 'Internal Server Error', 'an unexpected error occurred'),
    );
  });
  // A known path with another method is a 405 naming the methods it has (every registered route).
  const notAllowed = methodNotAllowed(app);
  app.notFound((c) =>
    problemResponse(
      c,
      notAllowed(c) ??
        new HttpProblem(404, 'not-found', 'Not Found', `no route for ${c.req.method} ${c.req.path}`),
    ),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const checks = await checkReadiness(deps.database.sql, deps.temporal);
    const ready = checks.every((check) => check.ok);
    if (!ready) deps.log.warn({ checks }, 'not ready');
    return c.json({ status: ready ? 'ready' : 'unavailable', checks }, ready ? 200 : 503);
  });
  app.use('/metrics', requireMetricsToken(deps.config.METRICS_TOKEN));
  app.get('/metrics', async (c) =>
    c.body(await metrics.render(), 200, { 'Content-Type': metrics.contentType }),
  );

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.use('/v1/*', bearerAuth(deps.database.db));
  app.use('/v1/*', rateLimit((deps.rateLimitDatabase ?? deps.database).db, deps.config));
  app.use('*', requireDeclaredBody(app));
  const kindDocuments = registerJobKindRoutes(app, deps);
  registerEstimateRoute(app, deps);
  registerJobRoutes(app, deps, hub);
  registerJobActionRoutes(app, deps);
  registerDownloadRoutes(app, deps);
  registerPartRoutes(app, deps);
  registerNotificationRoutes(app, deps);
  registerSocketRoute(app);
  registerMeRoutes(app);
  registerDashboardRoutes(
    app,
    jobKinds.list().map((k) => ({
      name: k.name,
      path: k.create.path,
      schemaName: k.create.schemaName,
      ...k.dashboard,
    })),
  );

  declareSharedResponses(app.openAPIRegistry);
  app.get('/openapi.json', openApiDocument(app, kindDocuments));
  registerDocs(app);
  const attachServer = (server: Server) => {
    answerClientErrors(server);
    return attachJobSocket(server, deps, hub);
  };
  return { app, hub, attachServer };
}
