/**
 * The `export` kind: a dataset to CSV, NDJSON, XLSX or PDF. The request's columns, filters and sort are
 * checked against the dataset, and the rows it matches against EXPORT_MAX_ROWS, before the 202. The
 * heavy activity is src/activities/export (on the `exports` queue), the workflow src/workflows/export.ts.
 */
import { z } from '@hono/zod-openapi';
import type { Sql } from '../db/client.js';
import { countUpTo, exportHistory, plannedRows, type ExportHistory } from '../db/export-estimates.js';
import { EXACT_COUNT_CAP, estimateExport } from '../datasets/estimate.js';
import { DEFAULT_SOURCE } from '../datasets/file.js';
import { checkExportRequest, ExportQuery } from '../datasets/query.js';
import { datasets, getDataset, selectColumns, type DatasetDef } from '../datasets/registry.js';
import { exportRequestSchema } from '../datasets/schema.js';
import type { AppDeps } from '../server/deps.js';
import type { Principal } from '../db/users-repo.js';
import {
  EXPORT_COMPRESSIONS,
  EXPORT_CONTENT_TYPES,
  GZIP_CONTENT_TYPE,
  type ExportEstimate,
  EXPORT_FORMATS,
  type ExportFilters,
  type ExportRequest,
  type ExportResult,
  type ExportWorkflowInput,
} from '../shared/jobs.js';
import { EXPORTS_QUEUE, WorkflowType } from '../shared/temporal.js';
import { problems } from '../server/http/problem.js';
import { maxChars } from '../server/http/validation.js';
import { safe, safeText } from '../server/http/safe-text.js';
import { EstimateSchema } from '../server/routes/estimate-schema.js';
import { defineJobKind, heavyPolicy } from './kind.js';

/** The body's fields; the dataset names are the active datasets file's, so this is built per app. */
const exportFields = (datasetNames = Object.keys(datasets()) as [string, ...string[]]) => ({
  dataset: z
    .enum(datasetNames, { error: `unknown dataset; allowed: ${datasetNames.join(', ')}` })
    .openapi({ example: 'orders', description: 'GET /v1/datasets lists their columns and filters' }),
  format: z.enum(EXPORT_FORMATS, { error: `must be one of: ${EXPORT_FORMATS.join(', ')}` }),
  columns: z
    .array(safe(z.string().max(100)))
    .min(1, 'must name at least one column')
    .max(100)
    .optional()
    .openapi({ description: 'Columns in output order; all columns when omitted.' }),
  filters: z
    .record(safeText(), z.unknown())
    .optional()
    .openapi({
      description:
        'Filters by name: `{"from": …, "to": …}` (from inclusive, to exclusive) for date and amount ranges, ' +
        'a list of values (e.g. `"status": ["paid"]`), or one value (equality, or the prefix of a text). ' +
        'Each dataset lists its filters (GET /v1/datasets). Dates are ' +
        '`YYYY-MM-DD` or `YYYY-MM-DDThh:mm[:ss[.ffffff]]` with an optional `Z` or offset up to ±15:59, ' +
        'on a real calendar day of years 0001-9999.',
      example: { created_at: { from: '2024-01-01', to: '2024-02-01' }, status: ['paid', 'shipped'] },
    }),
  sort: z
    .strictObject({
      column: safe(z.string().max(100)),
      direction: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).default('asc'),
    })
    .optional()
    .openapi({ description: 'Sort column and direction; the key breaks ties. Default: by key, ascending.' }),
  bom: z.boolean().optional().openapi({ description: 'CSV only: start with a UTF-8 BOM (for Excel).' }),
  compression: z
    .enum(EXPORT_COMPRESSIONS, { error: `must be one of: ${EXPORT_COMPRESSIONS.join(', ')}` })
    .optional()
    .openapi({
      description:
        'CSV and NDJSON: `gzip` makes the file a .gz (`application/gzip`, one gzip member per part), compressed as it is written.',
    }),
  title: safe(maxChars(z.string().min(1), 200))
    .optional()
    .openapi({ description: 'PDF only: title on every page.' }),
});

type ExportBody = Omit<ExportRequest, 'filters'> & { filters?: Record<string, unknown> };

const asRequest = (body: ExportBody): ExportRequest => ({
  ...body,
  filters: body.filters as ExportFilters | undefined,
});

/**
 * The connections of a dataset's source in the API process: its read-only source pool, or, in an app
 * built without a datasets handle (some tests), the state database's pool for the demo source.
 */
export function sourceSql(deps: AppDeps, source: string): Sql {
  if (deps.datasets) return deps.datasets.sources.get(source).sql;
  if (source === DEFAULT_SOURCE) return deps.database.sql;
  throw new Error(`source ${source} has no connections in this process (AppDeps.datasets)`);
}

/** The dataset of a valid request, refused (422 naming `dataset`) for a key that may not export it. */
export function datasetFor(request: ExportRequest, principal: Principal) {
  const ds = getDataset(request.dataset);
  if (!ds) throw problems.validation([{ field: 'dataset', in: 'body', reason: 'unknown dataset' }]);
  if (ds.tenantColumn === null && principal.scope !== 'admin')
    throw problems.validation([
      { field: 'dataset', in: 'body', reason: 'a global dataset; only admin keys may export it' },
    ]);
  return ds;
}

/** At most how many rows one export of `ds` may match (EXPORT_MAX_ROWS, or the dataset's maxRows); none when 0. */
function rowLimit(deps: AppDeps, ds: DatasetDef): number | undefined {
  const limit = Math.min(deps.config.EXPORT_MAX_ROWS || Infinity, ds.maxRows ?? Infinity);
  return Number.isFinite(limit) ? limit : undefined;
}

/**
 * The request's rows on the source: counted, exactly up to EXACT_COUNT_CAP (above it the planner's
 * estimate), and whether they are more than `limit` (counted up to it). One statement on the API's
 * source pool, whose connections are read-only (`sourceSettings`), in one round trip: a count under
 * the cap needs no second one. A source that is down throws a connection error, which the API answers
 * with 503.
 */
type SourceRows = { over: false; rows: ExportEstimate['rows'] };
async function sourceRows(deps: AppDeps, ds: DatasetDef, query: ExportQuery): Promise<SourceRows>;
async function sourceRows(
  deps: AppDeps,
  ds: DatasetDef,
  query: ExportQuery,
  limit: number | undefined,
): Promise<{ over: true } | SourceRows>;
async function sourceRows(
  deps: AppDeps,
  ds: DatasetDef,
  query: ExportQuery,
  limit?: number,
): Promise<{ over: true } | SourceRows> {
  const sql = sourceSql(deps, ds.source);
  const counted = await countUpTo(sql, query, Math.max(EXACT_COUNT_CAP, limit ?? 0));
  if (limit !== undefined && (counted === undefined || counted > limit)) return { over: true as const };
  if (counted !== undefined && counted <= EXACT_COUNT_CAP)
    return { over: false as const, rows: { value: counted, method: 'exact' as const } };
  return { over: false as const, rows: { value: await plannedRows(sql, query), method: 'planner' as const } };
}

/** What recent exports of the request's dataset and format (with its compression) wrote. */
function historyOf(deps: AppDeps, ds: DatasetDef, request: ExportRequest) {
  const compression = request.compression === 'gzip' ? 'gzip' : null;
  return exportHistory(deps.database.sql, ds.name, request.format, compression);
}

/** The estimate of a request whose rows are known: bytes and seconds from the history of its dataset and format. */
function estimateOf(
  ds: DatasetDef,
  request: ExportRequest,
  rows: ExportEstimate['rows'],
  history: ExportHistory,
): ExportEstimate {
  return estimateExport({ format: request.format, cols: selectColumns(ds, request.columns), rows, history });
}

/**
 * Rows, bytes and seconds a valid request is expected to take (POST /v1/exports/estimate; the 202's
 * `request.estimate` is made the same way): rows on the source, the history from the state database.
 */
export async function estimateRequest(
  deps: AppDeps,
  request: ExportRequest,
  principal: Principal,
): Promise<ExportEstimate> {
  const ds = datasetFor(request, principal);
  // The source and the state database are asked at once.
  const [counted, history] = await Promise.all([
    sourceRows(deps, ds, new ExportQuery(ds, principal.tenantId, request)),
    historyOf(deps, ds, request),
  ]);
  return estimateOf(ds, request, counted.rows, history);
}

const acceptedWithout =
  (deps: AppDeps, ds: DatasetDef) =>
  (err: unknown): undefined => {
    deps.log.warn({ err, dataset: ds.name }, 'export accepted without an estimate');
    return undefined;
  };

export const exportKind = defineJobKind<ExportBody, ExportRequest>({
  name: 'export',
  unit: 'rows',
  queue: EXPORTS_QUEUE,
  create: {
    path: '/v1/exports',
    operationId: 'exports.create',
    tag: 'exports',
    summary: 'Start an export of a dataset to a file',
    schemaName: 'ExportRequest',
    fields: () => exportFields(),
    refineSchema: () => exportRequestSchema(),
    refine(body, ctx) {
      const ds = getDataset(body.dataset);
      if (!ds) return;
      for (const issue of checkExportRequest(ds, asRequest(body)))
        ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
      if (body.bom !== undefined && body.format !== 'csv')
        ctx.addIssue({ code: 'custom', path: ['bom'], message: 'only for format csv' });
      if (body.compression === 'gzip' && body.format !== 'csv' && body.format !== 'ndjson')
        ctx.addIssue({
          code: 'custom',
          path: ['compression'],
          message: 'gzip only for format csv or ndjson',
        });
      if (body.title !== undefined && body.format !== 'pdf')
        ctx.addIssue({ code: 'custom', path: ['title'], message: 'only for format pdf' });
    },
  },
  api: (deps) => ({
    /**
     * A global dataset is for admin keys only; a request whose filters match more rows than
     * EXPORT_MAX_ROWS (or the dataset's maxRows) is refused before any work starts.
     */
    async prepare(body, principal) {
      const request = asRequest(body);
      const ds = datasetFor(request, principal);
      const limit = rowLimit(deps, ds);
      // One count on the source answers both the row limit and the estimate's rows; the history it
      // needs from the state database is read at the same time.
      const counted = sourceRows(deps, ds, new ExportQuery(ds, principal.tenantId, request), limit);
      const history = historyOf(deps, ds, request).catch(acceptedWithout(deps, ds));
      // Without a limit the estimate is a courtesy: when it cannot be made the export is still accepted.
      const known = await (limit !== undefined ? counted : counted.catch(acceptedWithout(deps, ds)));
      if (known?.over) {
        throw problems.validation([
          {
            field: 'filters',
            in: 'body',
            reason: `matches more than the limit of ${limit} rows per export; narrow the filters`,
          },
        ]);
      }
      const seen = await history;
      const estimate = known?.over === false && seen ? estimateOf(ds, request, known.rows, seen) : undefined;
      return estimate ? { ...request, estimate } : request;
    },
  }),
  workflow(job, start) {
    const request = job.request as ExportRequest;
    const input: ExportWorkflowInput = {
      jobId: job.id,
      userId: job.userId,
      tenantId: job.tenantId,
      request,
      policy: heavyPolicy(start.config, 'EXPORT'),
      retentionMs: start.retentionMs,
      scheduling: start.scheduling,
      heavyQueue: start.queue(EXPORTS_QUEUE),
      // A redrive continues the earlier run's parts from its last stored checkpoint.
      ...(job.retryOf && job.partsId ? { resume: { partsId: job.partsId, checkpoint: job.checkpoint } } : {}),
    };
    return {
      type: WorkflowType.export,
      input,
      summary: `export ${request.dataset} as ${request.format} for ${job.userId}`,
    };
  },
  view: {
    request: z.object({
      dataset: z.string(),
      format: z.enum(EXPORT_FORMATS),
      columns: z.array(z.string()).optional(),
      filters: z.record(z.string(), z.unknown()).optional(),
      sort: z.object({ column: z.string(), direction: z.enum(['asc', 'desc']) }).optional(),
      bom: z.boolean().optional(),
      compression: z.enum(EXPORT_COMPRESSIONS).optional(),
      title: z.string().optional(),
      fileName: z.string().optional(),
      estimate: EstimateSchema.optional(),
    }),
    resultFields: {
      rows: z.number().optional().openapi({ description: 'Exports: rows in the file.' }),
    },
    contentTypes: [...Object.values(EXPORT_CONTENT_TYPES), GZIP_CONTENT_TYPE],
    done: (result) => (result as ExportResult).rows,
  },
  dashboard: { title: 'New export', submitLabel: 'Start export', form: 'export' },
  worker: async () => (await import('../activities/export/worker.js')).exportWorker,
});
