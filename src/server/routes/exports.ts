/** POST /v1/exports: validate, record the job, start its workflow, answer 202 in milliseconds. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { ExportQuery } from '../../datasets/query.js';
import { getDataset } from '../../datasets/registry.js';
import type { ExportFilters, ExportRequest } from '../../shared/jobs.js';
import { workflowIdForJob } from '../../shared/temporal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import type { JobStarter } from '../job-starter.js';
import { admitHeavyJob } from '../limits.js';
import { jobView, progressFromRow } from '../job-view.js';
import { createIdempotently } from '../idempotency.js';
import { splitNotify } from '../notify-fields.js';
import { problems } from '../problem.js';
import { ExportRequestSchema, jobCreation } from '../schemas.js';

/** A request whose filters match more rows than EXPORT_MAX_ROWS is refused before any work starts. */
async function checkRowLimit(deps: AppDeps, tenantId: string, request: ExportRequest): Promise<void> {
  const limit = deps.config.EXPORT_MAX_ROWS;
  const ds = getDataset(request.dataset);
  if (limit <= 0 || !ds) return;
  const query = new ExportQuery(ds, tenantId, request);
  // Counting stops at limit + 1: the answer is only "over or not", and a huge table costs no more.
  const [row] = await deps.database.sql.unsafe<{ n: string }[]>(
    `select count(*)::bigint as n from (select 1 from ${query.from} where ${query.where} limit ${limit + 1}) x`,
  );
  if (Number(row?.n ?? 0) > limit) {
    throw problems.validation([
      {
        field: 'filters',
        in: 'body',
        reason: `matches more than the limit of ${limit} rows per export; narrow the filters`,
      },
    ]);
  }
}

const createExport = createRoute({
  method: 'post',
  path: '/v1/exports',
  operationId: 'exports.create',
  tags: ['exports'],
  summary: 'Start an export of a dataset to a file',
  security: [{ bearer: [] }],
  ...jobCreation(ExportRequestSchema),
});

export function registerExportRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, starter: JobStarter): void {
  app.openapi(createExport, async (c) => {
    const principal = c.get('principal');
    const body = c.req.valid('json');
    const { priority, ...submitted } = body;
    const { request: fields, notify } = splitNotify(submitted);
    const request: ExportRequest = { ...fields, filters: fields.filters as ExportFilters | undefined };
    await checkRowLimit(deps, principal.tenantId, request);
    const { job, replayed } = await createIdempotently(c, deps.database.db, 'exports.create', body, (id) =>
      admitHeavyJob(deps.database.db, deps.config, principal, {
        id,
        kind: 'export',
        request,
        notify,
        priority,
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
    await starter.startBounded(job, log, () => log.info({ request }, 'export accepted'));
    return c.json(jobView(job, progressFromRow(job)), 202);
  });
}
