/**
 * POST /v1/exports: validate the request (its columns, filters and sort against the dataset, and the
 * rows it matches against EXPORT_MAX_ROWS), record the job and answer 202 in milliseconds.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { matchesMoreThan } from '../../db/dataset-rows.js';
import { checkExportRequest, ExportQuery } from '../../datasets/query.js';
import { DATASETS, getDataset } from '../../datasets/registry.js';
import { EXPORT_FORMATS, type ExportFilters, type ExportRequest } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { problems } from '../http/problem.js';
import { createJob } from '../jobs/create-job.js';
import type { JobStarter } from '../jobs/job-starter.js';
import { jobView, progressFromRow } from '../jobs/job-view.js';
import { notifyFields, splitNotify } from '../jobs/notify-fields.js';
import { fileNameField, jobCreation, priorityField } from './job-schemas.js';

export const ExportRequestSchema = z
  .strictObject({
    dataset: z
      .string()
      .openapi({ example: 'orders', description: `One of: ${Object.keys(DATASETS).join(', ')}` })
      .refine((name) => getDataset(name) !== undefined, {
        message: `unknown dataset; allowed: ${Object.keys(DATASETS).join(', ')}`,
      }),
    format: z.enum(EXPORT_FORMATS, { error: `must be one of: ${EXPORT_FORMATS.join(', ')}` }),
    columns: z
      .array(z.string())
      .min(1, 'must name at least one column')
      .max(100)
      .optional()
      .openapi({ description: 'Columns in output order; all columns when omitted.' }),
    filters: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({
        description:
          'Filters by name: `{"from": …, "to": …}` (from inclusive, to exclusive) for date and amount ranges, ' +
          'or a list of values (e.g. `"status": ["paid"]`). Each dataset lists its filters.',
        example: { created_at: { from: '2024-01-01', to: '2024-02-01' }, status: ['paid', 'shipped'] },
      }),
    sort: z
      .strictObject({
        column: z.string(),
        direction: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).default('asc'),
      })
      .optional()
      .openapi({
        description: 'Sort column and direction; the key breaks ties. Default: by key, ascending.',
      }),
    bom: z.boolean().optional().openapi({ description: 'CSV only: start with a UTF-8 BOM (for Excel).' }),
    title: z.string().min(1).max(200).optional().openapi({ description: 'PDF only: title on every page.' }),
    fileName: fileNameField,
    ...notifyFields,
    priority: priorityField,
  })
  .superRefine((body, ctx) => {
    const ds = getDataset(body.dataset);
    if (!ds) return;
    const request = { ...body, filters: body.filters as ExportFilters | undefined };
    for (const issue of checkExportRequest(ds, request))
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    if (body.bom !== undefined && body.format !== 'csv')
      ctx.addIssue({ code: 'custom', path: ['bom'], message: 'only for format csv' });
    if (body.title !== undefined && body.format !== 'pdf')
      ctx.addIssue({ code: 'custom', path: ['title'], message: 'only for format pdf' });
  })
  .openapi('ExportRequest');

/** A request whose filters match more rows than EXPORT_MAX_ROWS is refused before any work starts. */
async function checkRowLimit(deps: AppDeps, tenantId: string, request: ExportRequest): Promise<void> {
  const limit = deps.config.EXPORT_MAX_ROWS;
  const ds = getDataset(request.dataset);
  if (limit <= 0 || !ds) return;
  if (await matchesMoreThan(deps.database.sql, new ExportQuery(ds, tenantId, request), limit)) {
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
    const { job, replayed } = await createJob(c, deps, starter, {
      principal,
      kind: 'export',
      request,
      notify,
      priority,
      idempotency: { scope: 'exports.create', key: c.req.valid('header')['idempotency-key'], body },
    });
    const view = jobView(job, progressFromRow(job));
    return replayed ? c.json(view, 200) : c.json(view, 202);
  });
}
