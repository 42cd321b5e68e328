/**
 * One attempt of a heavy activity (an export, a speech job): the skeleton every kind shares, so that a
 * kind supplies only its own work (HeavyKind). In order:
 *
 * 1. a logger carrying jobId, workflowId and attempt;
 * 2. the kind's checks of the input alone (`check`), then the job is marked running as this attempt, or
 *    refused with a non-retryable JobNotFound when it does not exist or is already finished, failed,
 *    cancelled or expired (a workflow records nothing and notifies no one for those);
 * 3. the kind's plan (`begin`): what earlier attempts left (heartbeat details, stored parts) and how to
 *    do the rest; the attempt is recorded with where it resumed from and the start is logged;
 * 4. heartbeats carrying the plan's checkpoint, at once and then every HEARTBEAT_EVERY_MS until the
 *    attempt ends, through the work, its bookkeeping, the publish and the final records: a cancellation
 *    only arrives in a heartbeat response, and a publish longer than the heartbeat timeout must not
 *    look like a dead worker;
 * 5. the work (`work`), with throttled progress signals, bookkeeping off the work's path (`background`,
 *    drained before the publish), and lanes (`lanes`) whose first failure aborts the others; a
 *    cancellation aborts the attempt's signal, so lanes stop and engines and encoders are killed, and
 *    the attempt then fails with the cancellation itself whatever the work threw;
 * 6. the publish under the one storage key of the result's file name (storageKey), the attempt's end
 *    recorded with the work it did, and the `<kind> published` log line with the time per phase;
 * 7. an attempt that failed because the database could not be reached waits for it, heartbeating its
 *    checkpoint (up to HEAVY_OUTAGE_WAIT_MS), before it fails: its retry starts once the database is
 *    back, so a PostgreSQL restart or failover costs one attempt, not the whole retry budget.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../../db/client.js';
import * as repo from '../../db/jobs-repo.js';
import type { Logger } from '../../lib/logger.js';
import { PhaseTimer } from '../../lib/phase-timer.js';
import { inSpan } from '../../lib/tracing.js';
import { unreachableDependency } from '../../lib/dependency-errors.js';
import { ErrorType } from '../../shared/errors.js';
import { TERMINAL_STATES, type JobState } from '../../shared/jobs.js';
import type { ActivityDeps } from '../deps.js';
import { runLanes, type Lanes } from './lanes.js';
import { ProgressReporter } from './progress-reporter.js';

/** Heartbeats between the ones the work sends itself, so a cancellation reaches the attempt within about a second. */
export const HEARTBEAT_EVERY_MS = 500;

/**
 * The storage key of a job's result: under the job id, the file name with anything unsafe replaced, one
 * `_` per code point (`u`): the API takes file names of up to 200 code points, and one `_` per UTF-16
 * unit would make a name of 200 astral characters a 400-byte file name, past the 255 bytes a local
 * file system allows, failing every attempt after the 202.
 */
export function storageKey(jobId: string, fileName: string): string {
  return `${jobId}/${fileName.replace(/[^A-Za-z0-9._-]/gu, '_')}`;
}

/** The job records an attempt keeps (job state, job_attempts); PostgreSQL in production. */
export interface AttemptRecords {
  /** Mark the job running as `attempt`; its row after that, or undefined when there is no such job. */
  markJobRunning(jobId: string, attempt: number): Promise<{ state: JobState } | undefined>;
  recordAttemptStart(a: {
    jobId: string;
    attempt: number;
    worker: string;
    resumedFromRows: number;
  }): Promise<void>;
  recordAttemptEnd(a: { jobId: string; attempt: number; rowsRead: number }): Promise<void>;
}

export function databaseAttemptRecords(db: Db): AttemptRecords {
  return {
    markJobRunning: (jobId, attempt) => repo.markJobRunning(db, jobId, attempt),
    recordAttemptStart: (a) => repo.recordAttemptStart(db, a),
    recordAttemptEnd: (a) => repo.recordAttemptEnd(db, a),
  };
}

export interface AttemptDeps {
  log: Logger;
  /** Name of this worker process, recorded with the attempt. */
  workerName: string;
  records: AttemptRecords;
  /** HEARTBEAT_EVERY_MS unless set (tests). */
  heartbeatEveryMs?: number;
  /**
   * After an attempt failed because the database could not be reached: how long it waits for the
   * database, heartbeating, before it ends (0 or unset: it ends at once), and how to tell it is back.
   */
  outage?: { waitMs: number; databaseReachable(): Promise<boolean>; pollMs?: number };
}

/** Longest a probe of the database may take before it counts as unreachable. */
const PROBE_TIMEOUT_MS = 2000;

/** Whether the database answers `select 1` within PROBE_TIMEOUT_MS. */
function databaseProbe(db: ActivityDeps['database']): () => Promise<boolean> {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>(
      (resolve) => (timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS)),
    );
    try {
      return await Promise.race([db.sql`select 1`.then(() => true), late]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The attempt deps of an activity host: its logger and name, the records in its database. */
export function attemptDeps(deps: ActivityDeps): AttemptDeps {
  return {
    log: deps.log,
    workerName: deps.workerName,
    records: databaseAttemptRecords(deps.database.db),
    outage: { waitMs: deps.outageWaitMs ?? 0, databaseReachable: databaseProbe(deps.database) },
  };
}

/**
 * An attempt that lost the database waits for it, heartbeating `details`, up to `outage.waitMs`, so the
 * retry starts once it is back: an outage costs the job one attempt instead of every attempt the
 * retry policy's backoff fits into it. A cancellation ends the wait.
 */
async function waitForDatabase(
  deps: AttemptDeps,
  ctx: Context,
  details: unknown,
  log: Logger,
): Promise<void> {
  const outage = deps.outage;
  if (!outage || outage.waitMs <= 0) return;
  const until = Date.now() + outage.waitMs;
  let warned = false;
  while (!ctx.cancellationSignal.aborted && Date.now() < until) {
    ctx.heartbeat(details);
    if (await outage.databaseReachable()) {
      if (warned) log.info('database reachable again: the attempt ends and its retry starts');
      return;
    }
    if (!warned) {
      log.warn({ waitMs: outage.waitMs }, 'database unreachable: waiting for it before the attempt ends');
      warned = true;
    }
    await ctx.sleep(outage.pollMs ?? 1000).catch(() => undefined);
  }
}

/** What every attempt has from its start. */
export interface AttemptInfo {
  ctx: Context;
  attempt: number;
  log: Logger;
  /** Aborted when the activity is cancelled or a lane fails: whatever the attempt started should stop. */
  signal: AbortSignal;
}

/** What the work and the publish may use besides. */
export interface AttemptScope extends AttemptInfo {
  /** Heartbeat the plan's checkpoint now (the ticker repeats it every HEARTBEAT_EVERY_MS meanwhile). */
  heartbeat(): void;
  /**
   * Progress to the workflow as a signal: at most one a second and 0.5 % apart unless `force` is set,
   * the rate counted from this attempt's start. Never fails: progress is advisory.
   */
  report(done: number, total: number, force?: boolean): Promise<void>;
  /**
   * Queue bookkeeping (checkpoint rows, progress) off the work's path, run in order. The attempt waits
   * for the queue before publishing; a failure there stops the queue and fails the attempt then. When
   * the work itself fails, what was queued still runs before the attempt fails with the work's error.
   */
  background(task: () => Promise<unknown>): void;
  /** Run lanes on this attempt's signal (lanes.ts). */
  lanes<T, L = undefined>(lanes: Lanes<T, L>): Promise<void>;
}

export interface AttemptPlan<R> {
  /** Work done before this attempt (rows, characters), recorded with the attempt. */
  resumedFrom: number;
  /** Progress done when this attempt starts, the base of its rate; `resumedFrom` unless set. */
  progressFrom?: number;
  /** The start's log line. */
  started: { message: string; fields: Record<string, unknown> };
  /** Heartbeat details: what a retry resumes from (its Context.info.heartbeatDetails). */
  checkpoint(): unknown;
  /** The result's file name; its storage key is storageKey(jobId, fileName). */
  fileName: string;
  work(attempt: AttemptScope): Promise<void>;
  publish(key: string, attempt: AttemptScope): Promise<Published<R>>;
  /** Called once the attempt has ended, however it ended. */
  close?(): void;
}

export interface Published<R> {
  result: R;
  /** Work this attempt did itself (rows read, characters synthesised), recorded with the attempt. */
  workDone: number;
  /** The `<kind> published` log line (the time per phase is added as `ms`). */
  fields: Record<string, unknown>;
}

export interface HeavyKind<I extends { jobId: string }, R> {
  /** First word of the `published` log line. */
  name: string;
  /** Name of the work's phase in that line's `ms` (`setup`, this, `publish`). */
  workPhase: string;
  /** Checks of the input alone, before the job is marked running: throw non-retryable ApplicationFailures. */
  check?(input: I): void;
  /** Plan the attempt, once the job is running. */
  begin(input: I, attempt: AttemptInfo): Promise<AttemptPlan<R>> | AttemptPlan<R>;
  /** The failure for an error of the attempt (not a cancellation), e.g. a non-retryable one; as is by default. */
  failure?(err: unknown): unknown;
}

export async function runHeavyAttempt<I extends { jobId: string }, R>(
  deps: AttemptDeps,
  kind: HeavyKind<I, R>,
  input: I,
): Promise<R> {
  const ctx = Context.current();
  const { attempt } = ctx.info;
  const timing = new PhaseTimer();
  const log = deps.log.child({
    jobId: input.jobId,
    workflowId: ctx.info.workflowExecution?.workflowId,
    attempt,
  });
  kind.check?.(input);
  const job = await deps.records.markJobRunning(input.jobId, attempt);
  if (!job) throw ApplicationFailure.nonRetryable(`job ${input.jobId} does not exist`, ErrorType.JobNotFound);
  if (TERMINAL_STATES.includes(job.state))
    throw ApplicationFailure.nonRetryable(
      `job ${input.jobId} is already ${job.state}`,
      ErrorType.JobNotFound,
    );

  // One abort for everything this attempt starts: lanes, engine and encoder processes.
  const abort = new AbortController();
  const onCancel = () => abort.abort(ctx.cancellationSignal.reason);
  ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
  if (ctx.cancellationSignal.aborted) onCancel();
  let ticker: NodeJS.Timeout | undefined;
  let plan: AttemptPlan<R> | undefined;
  try {
    const info: AttemptInfo = { ctx, attempt, log, signal: abort.signal };
    const planned = (plan = await kind.begin(input, info));
    await deps.records.recordAttemptStart({
      jobId: input.jobId,
      attempt,
      worker: deps.workerName,
      resumedFromRows: planned.resumedFrom,
    });
    log.info(planned.started.fields, planned.started.message);
    const heartbeat = () => ctx.heartbeat(planned.checkpoint());
    heartbeat();
    ticker = setInterval(heartbeat, deps.heartbeatEveryMs ?? HEARTBEAT_EVERY_MS);

    const progress = new ProgressReporter(ctx, planned.progressFrom ?? planned.resumedFrom);
    let bookkeeping: Promise<unknown> = Promise.resolve();
    const scope: AttemptScope = {
      ...info,
      heartbeat,
      report: (done, total, force) => progress.report(done, total, force),
      background(task) {
        bookkeeping = bookkeeping.then(task);
        bookkeeping.catch(() => {}); // kept for the end of the work, not left unhandled
      },
      lanes: (lanes) => runLanes(lanes, abort),
    };
    timing.lap('setup');
    try {
      // A span of the work (an export's PostgreSQL reads, a synthesis), inside the activity's.
      await inSpan(`${kind.name}.${kind.workPhase}`, { 'offload.resumed_from': planned.resumedFrom }, () =>
        planned.work(scope),
      );
    } catch (err) {
      await bookkeeping.catch(() => {}); // what the finished work queued (checkpoints) still lands
      throw err;
    }
    await bookkeeping;
    timing.lap(kind.workPhase);

    const published = await planned.publish(storageKey(input.jobId, planned.fileName), scope);
    timing.lap('publish');
    await deps.records.recordAttemptEnd({ jobId: input.jobId, attempt, rowsRead: published.workDone });
    log.info({ ...published.fields, ms: timing.totals() }, `${kind.name} published`);
    return published.result;
  } catch (err) {
    abort.abort(err);
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
    if (unreachableDependency(err)?.dependency === 'database') {
      await waitForDatabase(deps, ctx, plan ? plan.checkpoint() : ctx.info.heartbeatDetails, log);
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
    }
    throw kind.failure?.(err) ?? err;
  } finally {
    clearInterval(ticker);
    ctx.cancellationSignal.removeEventListener('abort', onCancel);
    plan?.close?.();
  }
}
