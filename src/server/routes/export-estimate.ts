/**
 * `POST /v1/exports/estimate`: the body of `POST /v1/exports`, validated the same way, answered with
 * rows, bytes and seconds and what each is based on (src/datasets/estimate.ts); nothing is recorded.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { estimateRequest, exportKind } from '../../kinds/export.js';
import type { ExportRequest } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { problemResponses } from '../http/problem.js';
import { splitNotify } from '../jobs/notify-fields.js';
import { EstimateSchema } from './estimate-schema.js';
import { creationSchema } from './job-kinds.js';

export function registerEstimateRoute(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/exports/estimate',
      operationId: 'exports.estimate',
      tags: ['exports'],
      summary: 'How many rows, bytes and seconds an export would take (nothing is started)',
      security: [{ bearer: [] }],
      request: {
        body: {
          required: true,
          content: { 'application/json': { schema: creationSchema(exportKind, deps.config) } },
        },
      },
      responses: {
        200: { description: 'The estimate', content: { 'application/json': { schema: EstimateSchema } } },
        ...problemResponses(400, 401, 422, 429, 503),
      },
    }),
    async (c) => {
      const { priority: _priority, ...submitted } = c.req.valid('json') as Record<string, unknown>;
      const { request } = splitNotify(submitted);
      return c.json(
        await estimateRequest(deps, request as unknown as ExportRequest, c.get('principal')),
        200,
      );
    },
  );
}
