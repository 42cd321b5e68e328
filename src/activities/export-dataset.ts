/**
 * The heavy export activity. Rows are read in the export's order (sort column, then key), one keyset
 * range per part; each part is rendered by its format's writer straight into storage and the heartbeat
 * carries the checkpoint (parts done, last sort key, writer state). A retry continues after the last
 * checkpoint, and since part boundaries depend only on the data, the published file is the same as an
 * uninterrupted run's (byte for byte for CSV, NDJSON and XLSX; PDF differs only in nothing visible).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { checkExportRequest, cursorOf, ExportQuery } from '../datasets/query.js';
import { getDataset, selectColumns, type ColumnDef } from '../datasets/registry.js';
import * as repo from '../db/jobs-repo.js';
import type { Sql } from '../db/client.js';
import { ErrorType } from '../shared/errors.js';
import type { ExportActivityInput, ExportCheckpoint, ExportResult } from '../shared/jobs.js';
import type { ActivityDeps } from './deps.js';
import { csvWriter, ndjsonWriter } from './formats/copy-formats.js';
import type { ExportSpec, FormatWriter } from './formats/format.js';
import { pdfWriter } from './formats/pdf.js';
import { xlsxWriter } from './formats/xlsx.js';
import { ProgressReporter } from './progress-reporter.js';

interface PartPlan {
  /** Cursor of the part's last row (inclusive), or undefined when no rows remain. */
  upper: string | undefined;
  rows: number;
}

/** The range of the next part: at most `partRows` rows after `cursor`. */
async function planPart(
  sql: Sql,
  q: ExportQuery,
  cursor: string | null,
  partRows: number,
): Promise<PartPlan> {
  const base = `select ${q.keySelect} from ${q.from} where ${q.where}${q.after(cursor)} order by ${q.orderBy}`;
  const [full] = await sql.unsafe<Record<string, string>[]>(`${base} offset $1 limit 1`, [partRows - 1]);
  if (full) return { upper: cursorOf(full), rows: partRows };
  const [rest] = await sql.unsafe<{ n: number }[]>(
    `select count(*)::int as n from ${q.from} where ${q.where}${q.after(cursor)}`,
  );
  const rows = rest?.n ?? 0;
  if (rows === 0) return { upper: undefined, rows: 0 };
  const [last] = await sql.unsafe<Record<string, string>[]>(`${base} offset $1 limit 1`, [rows - 1]);
  return { upper: last ? cursorOf(last) : undefined, rows };
}

export function resultFileName(input: ExportActivityInput): string {
  return input.request.fileName ?? `${input.request.dataset}-${input.jobId}.${input.request.format}`;
}

export function createExportActivities(deps: ActivityDeps) {
  const { database, storage } = deps;

  function writerFor(spec: ExportSpec): FormatWriter {
    switch (spec.request.format) {
      case 'csv':
        return csvWriter(spec);
      case 'ndjson':
        return ndjsonWriter(spec);
      case 'xlsx':
        return xlsxWriter(spec, deps.export.xlsxSheetRows);
      case 'pdf':
        return pdfWriter(spec, {
          rowsPerPage: deps.export.pdfRowsPerPage,
          databaseUrl: deps.export.databaseUrl,
        });
    }
  }

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
    const issues = checkExportRequest(ds, input.request);
    if (issues.length > 0)
      throw ApplicationFailure.nonRetryable(
        issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        ErrorType.InvalidInput,
      );
    const cols: ColumnDef[] = selectColumns(ds, input.request.columns);
    const query = new ExportQuery(ds, input.tenantId, input.request);

    const job = await repo.markJobRunning(database.db, input.jobId, attempt);
    if (!job)
      throw ApplicationFailure.nonRetryable(`job ${input.jobId} does not exist`, ErrorType.JobNotFound);

    const previous =
      (ctx.info.heartbeatDetails as ExportCheckpoint | undefined) ?? input.resumeFrom ?? undefined;
    const partsId = input.partsId ?? input.jobId;
    const startedAt = previous?.startedAt ?? new Date().toISOString();
    const spec: ExportSpec = { ds, cols, query, request: input.request, generatedAt: startedAt };
    const writer = writerFor(spec);
    let cp: ExportCheckpoint = previous ?? {
      partsDone: 0,
      cursor: null,
      rowsDone: 0,
      total: await countRows(database.sql, query),
      startedAt,
      render: writer.initialState(),
    };
    await repo.recordAttemptStart(database.db, {
      jobId: input.jobId,
      attempt,
      worker: deps.workerName,
      resumedFromRows: cp.rowsDone,
    });
    log.info(
      { resumeFrom: { ...cp, render: undefined }, format: input.request.format },
      previous ? 'export resuming from checkpoint' : 'export starting',
    );
    ctx.heartbeat(cp);

    const progress = new ProgressReporter(ctx, cp.rowsDone);
    await progress.report(cp.rowsDone, cp.total, true);
    const attemptStartedAt = Date.now();
    let rowsRead = 0;

    // One reserved connection for the whole read: no other query is pipelined onto it mid-COPY.
    const conn = await database.sql.reserve();
    // Heartbeat between parts too, so that a cancellation (which only arrives in a heartbeat response)
    // reaches a slow or throttled part within about a second.
    const ticker = setInterval(() => ctx.heartbeat(cp), 500);
    try {
      for (;;) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        const limit = writer.partRows(cp.rowsDone, deps.export.partRows);
        const plan = await planPart(conn, query, cp.cursor, limit);
        if (plan.upper === undefined || plan.rows === 0) break;
        const part = await writer.part({
          conn,
          lower: cp.cursor,
          upper: plan.upper,
          rowsBefore: cp.rowsDone,
          rows: plan.rows,
          state: cp.render,
        });
        await storage.writePart(partsId, cp.partsDone, part.body);
        rowsRead += plan.rows;
        cp = {
          ...cp,
          partsDone: cp.partsDone + 1,
          cursor: plan.upper,
          rowsDone: cp.rowsDone + plan.rows,
          total: Math.max(cp.total, cp.rowsDone + plan.rows),
          render: part.after(),
        };
        ctx.heartbeat(cp);
        await repo.saveCheckpoint(database.db, input.jobId, partsId, cp);
        await progress.report(cp.rowsDone, cp.total);
        if (deps.export.maxRowsPerSec > 0) {
          const due = attemptStartedAt + (rowsRead / deps.export.maxRowsPerSec) * 1000;
          if (due > Date.now()) await ctx.sleep(due - Date.now());
        }
      }
    } finally {
      clearInterval(ticker);
      conn.release();
    }
    const key = `${input.jobId}/${resultFileName(input).replace(/[^A-Za-z0-9._-]/g, '_')}`;
    const published = await storage.publish(
      partsId,
      key,
      cp.partsDone,
      writer.prefix(),
      writer.suffix(cp.render, cp.rowsDone),
    );
    await repo.recordAttemptEnd(database.db, { jobId: input.jobId, attempt, rowsRead });
    log.info({ rows: cp.rowsDone, bytes: published.bytes, rowsRead }, 'export published');
    return {
      storageKey: key,
      fileName: resultFileName(input),
      contentType: writer.contentType,
      bytes: published.bytes,
      rows: cp.rowsDone,
      sha256: published.sha256,
    };
  }

  return { exportDataset };
}

async function countRows(sql: Sql, query: ExportQuery): Promise<number> {
  const [row] = await sql.unsafe<{ n: string }[]>(query.count());
  return Number(row?.n ?? 0);
}

export type ExportActivities = ReturnType<typeof createExportActivities>;
