/** POST /v1/exports: validate, record the job, start its workflow, answer 202 in milliseconds. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { newJobId } from '../../lib/ids.js';
import { workflowIdForJob } from '../../shared/temporal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import type { JobStarter } from '../job-starter.js';
import { admitHeavyJob } from '../limits.js';
import { jobView, progressFromRow } from '../job-view.js';
import { ExportRequestSchema, JobSchema, problemResponses } from '../schemas.js';

/** How long a submission waits for Temporal to confirm the start before answering anyway. */
const START_WAIT_MS = 2000;

const createExport = createRoute({
  method: 'post',
  path: '/v1/exports',
  operationId: 'exports.create',
  tags: ['exports'],
  summary: 'Start an export of a dataset to a file',
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: ExportRequestSchema } } } },
  responses: {
    202: {
      description: 'Accepted; follow the links',
      content: { 'application/json': { schema: JobSchema } },
    },
    ...problemResponses(400, 401, 422, 429, 503),
  },
});

export function registerExportRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, starter: JobStarter): void {
  app.openapi(createExport, async (c) => {
    const principal = c.get('principal');
    const { priority, ...request } = c.req.valid('json');
    const id = newJobId();
    const job = await admitHeavyJob(deps.database.db, deps.config, principal, {
      id,
      kind: 'export',
      request,
      priority,
      workflowId: workflowIdForJob(id),
    });
    const log = deps.log.child({ jobId: id, workflowId: job.workflowId, userId: principal.userId });
    // The start is bounded: if Temporal is slow or down the job stays recorded and the outbox sweeper
    // starts it later, so the caller still gets its answer at once.
    const started = starter.start(job).then(
      () => log.info({ request }, 'export accepted'),
      (err: unknown) => log.error({ err }, 'workflow start failed; the outbox sweeper will retry'),
    );
    await Promise.race([started, new Promise((resolve) => setTimeout(resolve, START_WAIT_MS).unref())]);
    c.header('location', `/v1/jobs/${id}`);
    return c.json(jobView(job, progressFromRow(job)), 202);
  });
}
