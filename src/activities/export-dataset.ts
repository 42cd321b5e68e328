/**
 * The heavy export activity. Rows are read in the export's order (sort column, then key), one keyset
 * range per part; each part is rendered by its format's writer straight into storage and the heartbeat
 * carries the checkpoint (parts done, last sort key, writer state). A retry continues after the last
 * checkpoint, and since part boundaries depend only on the data, the published file is the same as an
 * uninterrupted run's (byte for byte for CSV, NDJSON and XLSX; PDF differs only in nothing visible).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { checkExportRequest, ExportQuery } from '../datasets/query.js';
import { getDataset, selectColumns, type ColumnDef } from '../datasets/registry.js';
import * as repo from '../db/jobs-repo.js';
import type { Sql } from '../db/client.js';
import { ErrorType } from '../shared/errors.js';
import type { ExportActivityInput, ExportCheckpoint, ExportResult } from '../shared/jobs.js';
import { PhaseTimer } from '../lib/phase-timer.js';
import type { ActivityDeps } from './deps.js';
import { csvWriter, ndjsonWriter } from './formats/copy-formats.js';
import type { ExportSpec, FormatWriter } from './formats/format.js';
import { pdfWriter } from './formats/pdf.js';
import { xlsxWriter } from './formats/xlsx.js';
import { PartPlanner } from './part-planner.js';
import { ProgressReporter } from './progress-reporter.js';

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
    const timing = new PhaseTimer();
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
      total: 0,
      startedAt,
      render: writer.initialState(),
    };
    const planner = new PartPlanner(
      database.sql,
      query,
      (before) => writer.partRows(before, deps.export.partRows),
      { index: cp.partsDone, cursor: cp.cursor, rowsBefore: cp.rowsDone },
    );
    // The count only feeds progress (percent, ETA): it runs beside the first part instead of before it.
    const counted = previous
      ? Promise.resolve(cp.total)
      : countRows(database.sql, query).then((n) => (cp = { ...cp, total: Math.max(n, cp.total) }).total);
    counted.catch(() => {});
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
    // Checkpoint rows and progress signals are written in order, off the read path. A failure there
    // is kept for the end of the read (awaited below), not left to surface as an unhandled rejection.
    let bookkeeping = counted.then((total) => progress.report(cp.rowsDone, total, true));
    bookkeeping.catch(() => {});
    const attemptStartedAt = Date.now();
    let rowsRead = 0;
    timing.lap('setup');

    // Parts finished ahead of the checkpoint (another lane still reads an earlier one).
    const finished = new Map<number, { rows: number; upper: string; render: ExportCheckpoint['render'] }>();
    const advance = () => {
      for (let next = finished.get(cp.partsDone); next; next = finished.get(cp.partsDone)) {
        finished.delete(cp.partsDone);
        cp = {
          ...cp,
          partsDone: cp.partsDone + 1,
          cursor: next.upper,
          rowsDone: cp.rowsDone + next.rows,
          total: Math.max(cp.total, cp.rowsDone + next.rows),
          render: next.render,
        };
      }
      ctx.heartbeat(cp);
      const saved = cp;
      bookkeeping = bookkeeping.then(async () => {
        await repo.saveCheckpoint(database.db, input.jobId, partsId, saved);
        await progress.report(saved.rowsDone, saved.total);
      });
      bookkeeping.catch(() => {});
    };
    // Parts that carry no render state from one to the next are read side by side, each lane on its
    // own reserved connection (nothing else is pipelined onto it mid-COPY).
    const lanes = writer.independentParts ? deps.export.readLanes : 1;
    const stop = new AbortController();
    const lane = async () => {
      const conn = await database.sql.reserve();
      try {
        for (;;) {
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
          if (stop.signal.aborted) return;
          const plan = await planner.next();
          if (!plan) return;
          const part = await writer.part({ conn, ...plan, state: cp.render });
          await storage.writePart(partsId, plan.index, part.body);
          rowsRead += plan.rows;
          finished.set(plan.index, { rows: plan.rows, upper: plan.upper, render: part.after() });
          advance();
          if (deps.export.maxRowsPerSec > 0) {
            const due = attemptStartedAt + (rowsRead / deps.export.maxRowsPerSec) * 1000;
            if (due > Date.now()) await ctx.sleep(due - Date.now());
          }
        }
      } catch (err) {
        stop.abort(err);
        throw err;
      } finally {
        conn.release();
      }
    };
    // Heartbeat between parts too, so that a cancellation (which only arrives in a heartbeat response)
    // reaches a slow or throttled part within about a second.
    const ticker = setInterval(() => ctx.heartbeat(cp), 500);
    try {
      const settled = await Promise.allSettled(Array.from({ length: lanes }, lane));
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) {
        await bookkeeping.catch(() => {}); // the checkpoints of the parts that did finish still land
        throw failed.reason;
      }
      await bookkeeping;
    } finally {
      clearInterval(ticker);
    }
    timing.lap('read');
    const key = `${input.jobId}/${resultFileName(input).replace(/[^A-Za-z0-9._-]/g, '_')}`;
    const published = await storage.publish(
      partsId,
      key,
      cp.partsDone,
      writer.prefix(),
      writer.suffix(cp.render, cp.rowsDone),
    );
    timing.lap('publish');
    await repo.recordAttemptEnd(database.db, { jobId: input.jobId, attempt, rowsRead });
    log.info(
      { rows: cp.rowsDone, bytes: published.bytes, rowsRead, ms: timing.totals() },
      'export published',
    );
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
