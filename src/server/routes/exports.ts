/** POST /v1/exports: validate, record the job, start its workflow, answer 202 in milliseconds. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { insertJob } from '../../db/jobs-repo.js';
import { workflowIdForJob } from '../../shared/temporal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import type { JobStarter } from '../job-starter.js';
import { jobView, progressFromRow } from '../job-view.js';
import { createIdempotently } from '../idempotency.js';
import { splitNotify } from '../notify-fields.js';
import { ExportRequestSchema, IdempotencyHeader, JobSchema, problemResponses } from '../schemas.js';

/** How long a submission waits for Temporal to confirm the start before answering anyway. */
const START_WAIT_MS = 2000;

const createExport = createRoute({
  method: 'post',
  path: '/v1/exports',
  operationId: 'exports.create',
  tags: ['exports'],
  summary: 'Start an export of a dataset to a file',
  security: [{ bearer: [] }],
  request: {
    headers: IdempotencyHeader,
    body: { required: true, content: { 'application/json': { schema: ExportRequestSchema } } },
  },
  responses: {
    200: {
      description: 'The job an earlier request with the same Idempotency-Key created',
      content: { 'application/json': { schema: JobSchema } },
    },
    202: {
      description: 'Accepted; follow the links',
      content: { 'application/json': { schema: JobSchema } },
    },
    ...problemResponses(400, 401, 409, 422),
  },
});

export function registerExportRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, starter: JobStarter): void {
  app.openapi(createExport, async (c) => {
    const principal = c.get('principal');
    const body = c.req.valid('json');
    const { request, notify } = splitNotify(body);
    const { job, replayed } = await createIdempotently(c, deps.database.db, 'exports.create', body, (id) =>
      insertJob(deps.database.db, {
        id,
        userId: principal.userId,
        tenantId: principal.tenantId,
        kind: 'export',
        request,
        notify,
        workflowId: workflowIdForJob(id),
      }),
    );
    const id = job.id;
    c.header('location', `/v1/jobs/${id}`);
    if (replayed) {
      c.header('idempotent-replayed', 'true');
      return c.json(jobView(job, progressFromRow(job)), 200);
    }
    const log = deps.log.child({ jobId: id, workflowId: job.workflowId, userId: principal.userId });
    // The start is bounded: if Temporal is slow or down the job stays recorded and the outbox sweeper
    // starts it later, so the caller still gets its answer at once.
    const started = starter.start(job).then(
      () => log.info({ request }, 'export accepted'),
      (err: unknown) => log.error({ err }, 'workflow start failed; the outbox sweeper will retry'),
    );
    await Promise.race([started, new Promise((resolve) => setTimeout(resolve, START_WAIT_MS).unref())]);
    return c.json(jobView(job, progressFromRow(job)), 202);
  });
}
