/**
 * The heavy export activity. Rows are read in the export's order (sort column, then key), one keyset
 * range per part; each part is rendered by its format's writer straight into storage and the heartbeat
 * carries the checkpoint (parts done, last sort key, writer state). A retry continues after the last
 * checkpoint, and since part boundaries depend only on the data, the published file is the same as an
 * uninterrupted run's (byte for byte for CSV, NDJSON, XLSX and Parquet; PDF differs only in nothing visible).
 * The attempt around it (job records, heartbeats, progress, lanes, publish) is ../heavy/attempt.ts.
 */
import { createHash } from 'node:crypto';
import { pipeline, Transform } from 'node:stream';
import { ApplicationFailure } from '@temporalio/activity';
import { checkExportRequest, ExportQuery } from '../../datasets/query.js';
import { getDataset, selectColumns, type ColumnDef, type DatasetDef } from '../../datasets/registry.js';
import * as repo from '../../db/jobs-repo.js';
import type { Sql } from '../../db/client.js';
import { reserveConnection } from '../../db/reserve.js';
import { jobAppName, nameSession, readOnly, sourceSettings, type SourcePools } from '../../db/sources.js';
import { ErrorType } from '../../shared/errors.js';
import type { ExportActivityInput, ExportCheckpoint, ExportResult, PartRecord } from '../../shared/jobs.js';
import type { ActivityDeps } from '../deps.js';
import { attemptDeps, runHeavyAttempt, type HeavyKind } from '../heavy/attempt.js';
import { csvWriter, gzipped, ndjsonWriter } from './formats/copy-formats.js';
import type { ExportSpec, FormatWriter } from './formats/format.js';
import { parquetWriter } from './formats/parquet.js';
import { pdfWriter } from './formats/pdf.js';
import { xlsxWriter } from './formats/xlsx.js';
import { OrderedDigest } from './ordered-digest.js';
import { PartPlanner } from './part-planner.js';

export function resultFileName(input: ExportActivityInput): string {
  const gz = input.request.compression === 'gzip' ? '.gz' : '';
  return input.request.fileName ?? `${input.request.dataset}-${input.jobId}.${input.request.format}${gz}`;
}

/** The dataset, columns and query of a request, or a non-retryable failure naming what is wrong. */
function resolveRequest(input: ExportActivityInput): {
  ds: DatasetDef;
  cols: ColumnDef[];
  query: ExportQuery;
} {
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
  return {
    ds,
    cols: selectColumns(ds, input.request.columns),
    query: new ExportQuery(ds, input.tenantId, input.request),
  };
}

/** How the export activity reads and writes, from the EXPORT_* settings (see ./worker.ts). */
export interface ExportSettings {
  /** Rows per stored part (and per checkpoint). */
  partRows: number;
  /** Parts of a CSV or NDJSON export read side by side, each over its own connection. */
  readLanes: number;
  /** Read-rate cap protecting the database; 0 = unlimited. */
  maxRowsPerSec: number;
  /** Rows per XLSX sheet, header included. */
  xlsxSheetRows: number;
  pdfRowsPerPage: number;
  /** The read-only pools of the datasets' sources (and their URLs, for the PDF thread's own connection). */
  sources: SourcePools;
}

export function createExportActivities(deps: ActivityDeps, settings: ExportSettings) {
  const { database, storage } = deps;

  const { sources } = settings;

  function writerFor(spec: ExportSpec, appName: string): FormatWriter {
    switch (spec.request.format) {
      case 'csv':
        return spec.request.compression === 'gzip' ? gzipped(csvWriter(spec)) : csvWriter(spec);
      case 'ndjson':
        return spec.request.compression === 'gzip' ? gzipped(ndjsonWriter(spec)) : ndjsonWriter(spec);
      case 'xlsx':
        return xlsxWriter(spec, settings.xlsxSheetRows);
      case 'parquet':
        return parquetWriter(spec);
      case 'pdf':
        return pdfWriter(spec, {
          rowsPerPage: settings.pdfRowsPerPage,
          databaseUrl: sources.url(spec.ds.source),
          connection: {
            ...sourceSettings(sources.options.statementTimeoutMs),
            application_name: appName,
          },
        });
    }
  }

  const exportKind: HeavyKind<ExportActivityInput, ExportResult> = {
    name: 'export',
    workPhase: 'read',
    check: (input) => void resolveRequest(input),
    begin(input, { ctx }) {
      const { ds, cols, query } = resolveRequest(input);
      const previous =
        (ctx.info.heartbeatDetails as ExportCheckpoint | undefined) ?? input.resumeFrom ?? undefined;
      const partsId = input.partsId ?? input.jobId;
      const startedAt = previous?.startedAt ?? new Date().toISOString();
      const spec: ExportSpec = { ds, cols, query, request: input.request, generatedAt: startedAt };
      // Every read of the source names the job (pg_stat_activity), in read-only transactions.
      const appName = jobAppName('export', input.jobId);
      const source = sources.get(ds.source).sql;
      const writer = writerFor(spec, appName);
      // The file's first bytes; part 0's listed record counts them when parts are listed.
      const filePrefix = writer.prefix();
      let cp: ExportCheckpoint = previous ?? {
        partsDone: 0,
        cursor: null,
        rowsDone: 0,
        // The API's estimate until the count is known.
        total: input.request.estimate?.rows.value ?? 0,
        startedAt,
        render: writer.initialState(),
        ...(writer.independentParts ? { parts: [], partsPrefix: filePrefix.toString('base64') } : {}),
      };
      const prefix = writer.independentParts ? filePrefix : undefined;
      // The whole file's SHA-256 as the parts are written, when this attempt writes every part.
      const digest = cp.partsDone === 0 ? new OrderedDigest(filePrefix, MAX_HELD_FOR_DIGEST) : undefined;
      const planner = new PartPlanner(
        (fn) => readOnly(source, appName, fn),
        query,
        (before) => writer.partRows(before, settings.partRows),
        { index: cp.partsDone, cursor: cp.cursor, rowsBefore: cp.rowsDone },
      );
      // The count only feeds progress (percent, ETA). The planner's sum gives it once the last part is
      // planned, early in the export; a count query runs only for an export too long to plan that far
      // ahead, and nothing at all when the API's estimate already counted the rows exactly.
      let readAll = false;
      const counted =
        previous || input.request.estimate?.rows.method === 'exact'
          ? Promise.resolve(cp.total)
          : planner.total
              .then((n) => n ?? readOnly(source, appName, (tx) => countRows(tx, query)))
              .then((n) => (readAll ? cp.total : (cp = { ...cp, total: Math.max(n, cp.rowsDone) }).total));
      counted.catch(() => {});
      let rowsRead = 0;

      return {
        resumedFrom: cp.rowsDone,
        started: {
          message: previous ? 'export resuming from checkpoint' : 'export starting',
          fields: {
            resumeFrom: { ...cp, render: undefined, parts: undefined, partsPrefix: undefined },
            format: input.request.format,
          },
        },
        checkpoint: () => cp,
        fileName: resultFileName(input),

        async work(attempt) {
          // Checkpoint rows and progress signals are written in order, off the read path.
          attempt.background(async () => attempt.report(cp.rowsDone, await counted, true));
          const attemptStartedAt = Date.now();
          // Parts finished ahead of the checkpoint (another lane still reads an earlier one).
          const finished = new Map<
            number,
            { rows: number; upper: string; render: ExportCheckpoint['render']; part?: PartRecord }
          >();
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
                ...(cp.parts && next.part ? { parts: [...cp.parts, next.part] } : {}),
              };
            }
            attempt.heartbeat();
            const saved = cp;
            attempt.background(async () => {
              await repo.saveCheckpoint(database.db, input.jobId, partsId, saved);
              await attempt.report(saved.rowsDone, saved.total);
            });
          };
          // Parts that carry no render state from one to the next are read side by side, each lane on its
          // own reserved connection (nothing else is pipelined onto it mid-COPY). reserveConnection, not
          // sql.reserve(): a connection the server closes (a restart) must fail the attempt, not the process.
          // Planning stops with the readers, however they end: no plan query outlives the attempt.
          await attempt
            .lanes({
              count: writer.independentParts ? settings.readLanes : 1,
              open: async () => {
                const lane = await reserveConnection(source);
                try {
                  return { lane, restore: await nameSession(lane.sql, appName, sources.options.appName) };
                } catch (err) {
                  lane.release();
                  throw err;
                }
              },
              // A connection whose name cannot be restored (it closed) is not handed back named.
              close: async ({ lane, restore }) => {
                if (lane.isOpen()) await restore().catch(() => undefined);
                lane.release();
              },
              next: () => planner.next(),
              run: async (plan, { lane }) => {
                const part = await writer.part({ conn: lane.sql, ...plan, state: cp.render });
                // The listed part's sha256 and size: part 0 counts the prefix (see ExportCheckpoint.parts).
                const hash = prefix ? createHash('sha256') : undefined;
                const lead = plan.index === 0 && prefix ? prefix : Buffer.alloc(0);
                hash?.update(lead);
                // A COPY hands over a socket read's rows at a time (patches/apply.mjs), so a Transform is cheap.
                const hashed = new Transform({
                  transform(chunk: Buffer, _encoding, done) {
                    hash?.update(chunk);
                    digest?.add(plan.index, chunk);
                    done(null, chunk);
                  },
                });
                pipeline(part.body, hashed, () => {
                  // A failure is the stream's own (pipeline destroys `hashed` with it): writePart sees it.
                });
                const written = await storage.writePart(partsId, plan.index, hashed);
                digest?.finish(plan.index);
                const record = hash
                  ? { rows: plan.rows, bytes: lead.length + written.bytes, sha256: hash.digest('hex') }
                  : undefined;
                rowsRead += plan.rows;
                finished.set(plan.index, {
                  rows: plan.rows,
                  upper: plan.upper,
                  render: part.after(),
                  part: record,
                });
                advance();
                if (settings.maxRowsPerSec > 0) {
                  const due = attemptStartedAt + (rowsRead / settings.maxRowsPerSec) * 1000;
                  if (due > Date.now()) await ctx.sleep(due - Date.now());
                }
              },
            })
            .finally(() => planner.close());
          // Every row is read: the total is what was read, whatever the estimate or the count said.
          readAll = true;
          cp = { ...cp, total: cp.rowsDone };
          const final = cp;
          attempt.background(async () => attempt.report(final.rowsDone, final.total, true));
        },

        async publish(key) {
          const suffix = writer.suffix(cp.render, cp.rowsDone);
          const published = await storage.publish(
            partsId,
            key,
            cp.partsDone,
            filePrefix,
            suffix,
            digest?.result(cp.partsDone, suffix),
          );
          return {
            result: {
              storageKey: key,
              fileName: resultFileName(input),
              contentType: writer.contentType,
              bytes: published.bytes,
              rows: cp.rowsDone,
              sha256: published.sha256,
            },
            workDone: rowsRead,
            fields: { rows: cp.rowsDone, bytes: published.bytes, rowsRead },
          };
        },
      };
    },
  };
  const attempts = attemptDeps(deps);

  async function exportDataset(input: ExportActivityInput): Promise<ExportResult> {
    return runHeavyAttempt(attempts, exportKind, input);
  }

  return { exportDataset };
}

async function countRows(sql: Sql, query: ExportQuery): Promise<number> {
  const [row] = await sql.unsafe<{ n: string }[]>(query.count());
  return Number(row?.n ?? 0);
}

/** Bytes of parts read ahead of the next one in file order that the whole-file digest may keep. */
const MAX_HELD_FOR_DIGEST = 32 * 1024 * 1024;

export type ExportActivities = ReturnType<typeof createExportActivities>;
