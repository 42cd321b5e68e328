/** createApp(deps): the HTTP API as a Hono app, with problem+json errors and a generated OpenAPI document. */
import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import type { AppDeps } from './deps.js';
import type { AppEnv } from './env.js';
import { bearerAuth } from './auth.js';
import { rateLimit } from './limits.js';
import { HttpProblem, problemResponse } from './problem.js';
import { registerExportRoutes } from './routes/exports.js';
import { registerJobRoutes } from './routes/jobs.js';
import { JobStarter } from './job-starter.js';
import { validationHook } from './validation.js';

export interface App {
  app: OpenAPIHono<AppEnv>;
  starter: JobStarter;
}

export function createApp(deps: AppDeps): App {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const starter = new JobStarter(deps);

  app.onError((err, c) => {
    if (err instanceof HttpProblem) return problemResponse(c, err);
    if (err instanceof HTTPException) {
      // Hono's own errors, e.g. a body that is not valid JSON.
      const code = err.status === 400 ? 'malformed-request' : 'http-error';
      return problemResponse(c, new HttpProblem(err.status, code, err.message || 'Bad Request', err.message));
    }
    deps.log.error({ err, path: c.req.path, method: c.req.method }, 'unhandled error');
    return problemResponse(
      c,
      new HttpProblem(500, 'internal', 'Internal Server Error', 'an unexpected error occurred'),
    );
  });
  app.notFound((c) =>
    problemResponse(
      c,
      new HttpProblem(404, 'not-found', 'Not Found', `no route for ${c.req.method} ${c.req.path}`),
    ),
  );

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.use('/v1/*', bearerAuth(deps.database.db));
  app.use('/v1/*', rateLimit((deps.rateLimitDatabase ?? deps.database).db, deps.config));
  registerExportRoutes(app, deps, starter);
  registerJobRoutes(app, deps);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'offload',
      version: '0.1.0',
      description: 'Heavy requests off the request path, on Temporal.',
    },
  });
  return { app, starter };
}
