/**
 * The heavy export activity. Rows are read in key order, one fixed key range per part; each part is
 * COPYed straight from PostgreSQL into storage and the heartbeat carries the checkpoint (parts done,
 * last key). A retry continues after the last checkpoint, and since part boundaries depend only on the
 * data, the published file is byte-identical to an uninterrupted run.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { getDataset, selectColumns, type ColumnDef, type DatasetDef } from '../datasets/registry.js';
import * as repo from '../db/jobs-repo.js';
import type { Sql } from '../db/client.js';
import { copyOut } from '../db/copy-out.js';
import { ErrorType } from '../shared/errors.js';
import type { ExportActivityInput, ExportCheckpoint, ExportResult } from '../shared/jobs.js';
import type { ActivityDeps } from './deps.js';
import { ProgressReporter } from './progress-reporter.js';
import { keyLiteral, quoteIdent, quoteLiteral } from './sql-text.js';

interface PartPlan {
  /** Last key of the part (inclusive), or undefined when no rows remain. */
  upper: string | undefined;
  rows: number;
}

/** The key range of the next part: at most `partRows` rows after `cursor`. */
async function planPart(sql: Sql, ds: DatasetDef, tenantId: string, cursor: string | null, partRows: number) {
  const t = quoteIdent(ds.table);
  const k = quoteIdent(ds.keyColumn);
  const tc = quoteIdent(ds.tenantColumn);
  const after = cursor === null ? '' : `and ${k} > ${keyLiteral(cursor)}`;
  const [full] = await sql.unsafe<{ upper: string }[]>(
    `select ${k}::text as upper from ${t} where ${tc} = $1 ${after} order by ${k} offset $2 limit 1`,
    [tenantId, partRows - 1],
  );
  if (full) return { upper: full.upper, rows: partRows } satisfies PartPlan;
  const [rest] = await sql.unsafe<{ upper: string | null; rows: number }[]>(
    `select max(${k})::text as upper, count(*)::int as rows from ${t} where ${tc} = $1 ${after}`,
    [tenantId],
  );
  return { upper: rest?.upper ?? undefined, rows: rest?.rows ?? 0 } satisfies PartPlan;
}

function copyStatement(
  ds: DatasetDef,
  cols: ColumnDef[],
  tenantId: string,
  cursor: string | null,
  upper: string,
) {
  const k = quoteIdent(ds.keyColumn);
  const select = cols.map((c) => quoteIdent(c.column)).join(', ');
  const after = cursor === null ? '' : ` and ${k} > ${keyLiteral(cursor)}`;
  return (
    `copy (select ${select} from ${quoteIdent(ds.table)} where ${quoteIdent(ds.tenantColumn)} = ${quoteLiteral(tenantId)}` +
    `${after} and ${k} <= ${keyLiteral(upper)} order by ${k}) to stdout with (format csv)`
  );
}

function csvHeader(cols: ColumnDef[]): Buffer {
  const cell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return Buffer.from(cols.map((c) => cell(c.name)).join(',') + '\n', 'utf8');
}

export function resultFileName(input: ExportActivityInput): string {
  return input.request.fileName ?? `${input.request.dataset}-${input.jobId}.${input.request.format}`;
}

export function createExportActivities(deps: ActivityDeps) {
  const { database, storage } = deps;

  async function exportDataset(input: ExportActivityInput): Promise<ExportResult> {
    const ctx = Context.current();
    const { attempt } = ctx.info;
    const log = deps.log.child({
      jobId: input.jobId,
      workflowId: ctx.info.workflowExecution?.workflowId,
      attempt,
    });
    const ds = getDataset(input.request.dataset);
    if (!ds)
      throw ApplicationFailure.nonRetryable(
        `unknown dataset ${input.request.dataset}`,
        ErrorType.UnknownDataset,
      );
    let cols: ColumnDef[];
    try {
      cols = selectColumns(ds, input.request.columns);
    } catch (err) {
      throw ApplicationFailure.nonRetryable((err as Error).message, ErrorType.InvalidInput);
    }

    const job = await repo.markJobRunning(database.db, input.jobId, attempt);
    if (!job)
      throw ApplicationFailure.nonRetryable(`job ${input.jobId} does not exist`, ErrorType.JobNotFound);

    const previous =
      (ctx.info.heartbeatDetails as ExportCheckpoint | undefined) ?? input.resumeFrom ?? undefined;
    const partsId = input.partsId ?? input.jobId;
    let cp: ExportCheckpoint = previous ?? {
      partsDone: 0,
      cursor: null,
      rowsDone: 0,
      total: await countRows(database.sql, ds, input.tenantId),
    };
    await repo.recordAttemptStart(database.db, {
      jobId: input.jobId,
      attempt,
      worker: deps.workerName,
      resumedFromRows: cp.rowsDone,
    });
    log.info({ resumeFrom: cp }, previous ? 'export resuming from checkpoint' : 'export starting');
    ctx.heartbeat(cp);

    const progress = new ProgressReporter(ctx, cp.rowsDone);
    await progress.report(cp.rowsDone, cp.total, true);
    const startedAt = Date.now();
    let rowsRead = 0;

    // One reserved connection for the whole read: no other query is pipelined onto it mid-COPY.
    const conn = await database.sql.reserve();
    // Heartbeat between parts too, so that a cancellation (which only arrives in a heartbeat response)
    // reaches a slow or throttled part within about a second.
    const ticker = setInterval(() => ctx.heartbeat(cp), 500);
    try {
      for (;;) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        const plan = await planPart(conn, ds, input.tenantId, cp.cursor, deps.export.partRows);
        if (plan.upper === undefined || plan.rows === 0) break;
        const stream = await copyOut(conn, copyStatement(ds, cols, input.tenantId, cp.cursor, plan.upper));
        await storage.writePart(partsId, cp.partsDone, stream);
        rowsRead += plan.rows;
        cp = {
          partsDone: cp.partsDone + 1,
          cursor: plan.upper,
          rowsDone: cp.rowsDone + plan.rows,
          total: Math.max(cp.total, cp.rowsDone + plan.rows),
        };
        ctx.heartbeat(cp);
        await repo.saveCheckpoint(database.db, input.jobId, partsId, cp);
        await progress.report(cp.rowsDone, cp.total);
        if (deps.export.maxRowsPerSec > 0) {
          const due = startedAt + (rowsRead / deps.export.maxRowsPerSec) * 1000;
          if (due > Date.now()) await ctx.sleep(due - Date.now());
        }
      }
    } finally {
      clearInterval(ticker);
      conn.release();
    }
    const key = `${input.jobId}/${resultFileName(input).replace(/[^A-Za-z0-9._-]/g, '_')}`;
    const published = await storage.publish(partsId, key, cp.partsDone, csvHeader(cols));
    await repo.recordAttemptEnd(database.db, { jobId: input.jobId, attempt, rowsRead });
    log.info({ rows: cp.rowsDone, bytes: published.bytes, rowsRead }, 'export published');
    return {
      storageKey: key,
      fileName: resultFileName(input),
      contentType: 'text/csv; charset=utf-8',
      bytes: published.bytes,
      rows: cp.rowsDone,
      sha256: published.sha256,
    };
  }

  return { exportDataset };
}

async function countRows(sql: Sql, ds: DatasetDef, tenantId: string): Promise<number> {
  const [row] = await sql.unsafe<{ n: number }[]>(
    `select count(*)::int as n from ${quoteIdent(ds.table)} where ${quoteIdent(ds.tenantColumn)} = $1`,
    [tenantId],
  );
  return row?.n ?? 0;
}

export type ExportActivities = ReturnType<typeof createExportActivities>;
