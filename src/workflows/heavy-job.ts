/**
 * The life of one heavy job, shared by every job workflow: live progress (query + throttled signal),
 * one of the user's heavy slots around the heavy activity, the outcome recorded in PostgreSQL, the
 * OffloadState search attribute and details line kept current, retention of the result, and the
 * end-of-job notifications. A workflow supplies only the heavy activity call.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { JobRecordActivities } from '../activities/index.js';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../shared/errors.js';
import type { HeavyActivityPolicy, JobKind, JobResult, Progress, Scheduling } from '../shared/jobs.js';
import { partsRetentionWorkflowId, retentionWorkflowId, type TaskQueue } from '../shared/temporal.js';
import { progressQuery, progressSignal } from './definitions.js';
import { notifyJobEnd } from './notify.js';
import { publishProgress, publishState } from './observability.js';
import { applyReport, finish, initialProgress } from './progress-state.js';
import { partsRetentionWorkflow, retentionWorkflow } from './retention.js';

// Light activities run on the workflow's own task queue (`jobs`, or `${TASK_QUEUE_PREFIX}jobs`).
// Record-keeping retries until the database is back: losing a job's outcome is not an option.
const records = proxyActivities<JobRecordActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

// Waiting for one of the user's heavy slots: each try is one quick query, retried by the server until a
// slot is free. Retries write no history events, so a long wait keeps the history small; the short
// maximum interval bounds how long a freed slot stays unused.
const slots = proxyActivities<Pick<JobRecordActivities, 'acquireHeavySlot'>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '250ms', backoffCoefficient: 1.5, maximumInterval: '2s' },
});

/** The failure's type and message as a user should see them. */
export function describeFailure(err: unknown): { type: string; message: string } {
  let cause: unknown = err;
  if (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

/**
 * Options of a job's heavy activity: its queue and summary, heartbeats and retries from the policy the
 * API chose, and priority and fairness (users take turns within a priority). Cancellation waits for the
 * activity to stop (its engine processes, its COPY) before the parts are cleaned up.
 */
export function heavyActivityOptions(opts: {
  taskQueue: TaskQueue;
  summary: string;
  policy: HeavyActivityPolicy;
  scheduling?: Scheduling;
}): ActivityOptions {
  const { policy, scheduling } = opts;
  return {
    taskQueue: opts.taskQueue,
    summary: opts.summary,
    ...(scheduling
      ? { priority: { priorityKey: scheduling.priority, fairnessKey: scheduling.fairnessKey } }
      : {}),
    heartbeatTimeout: policy.heartbeatTimeoutMs,
    startToCloseTimeout: policy.startToCloseTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: policy.initialRetryIntervalMs,
      maximumInterval: policy.maxRetryIntervalMs,
      backoffCoefficient: 2,
      maximumAttempts: policy.maxAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  };
}

export interface HeavyJob<R extends JobResult> {
  jobId: string;
  userId: string;
  kind: JobKind;
  unit: Progress['unit'];
  scheduling?: Scheduling;
  /** Keep the result this long, then delete it and mark the job `expired`. */
  retentionMs?: number;
  /** Keep a failed job's parts so a redrive can resume from its checkpoint. */
  keepPartsOnFailure: boolean;
  /** ...for this long, then delete them (undefined: keep them). */
  failedPartsRetentionMs?: number;
  /** The heavy activity. */
  run: () => Promise<R>;
  /** The final progress for a result (e.g. to fill in a total the activity never reported). */
  finalProgress?: (progress: Progress, result: R) => Promise<Progress> | Progress;
}

/**
 * Patch marker: a cancel request wins over an outcome that lands after it (the heavy activity's result or
 * failure), and every epilogue runs to its end however it is interrupted. Workflows started before it
 * replay without it (the old behaviour); remove the check once none of them can still be running.
 */
export const CANCEL_WINS_PATCH = 'cancel-wins-over-late-outcomes';

/** Patch marker: a failed job's kept parts expire (partsRetentionWorkflow); older workflows keep them. */
export const FAILED_PARTS_EXPIRE_PATCH = 'failed-parts-expire';

export async function runHeavyJob<R extends JobResult>(job: HeavyJob<R>): Promise<R> {
  let progress: Progress = initialProgress(job.unit);
  setHandler(progressQuery, () => progress);
  setHandler(progressSignal, (report) => {
    progress = applyReport(progress, report);
    publishProgress(progress);
  });
  const settle = (p: Progress) => {
    progress = p;
    publishState(p.state);
    publishProgress(p);
  };

  // The scope a cancel request reaches: an outcome that lands after the request still ends `cancelled`.
  const root = CancellationScope.current();
  const cancelWins = patched(CANCEL_WINS_PATCH);
  /** Parts (and a result already published) gone, the job `cancelled`, one `job.cancelled`. */
  const endCancelled = (storageKey?: string) =>
    CancellationScope.nonCancellable(async () => {
      // Parts first: once the job reads `cancelled`, its partial output is already gone.
      if (storageKey !== undefined) await records.discardResult(storageKey);
      await records.discardParts(job.jobId);
      await records.cancelJob(job.jobId);
      settle(finish(progress, 'cancelled', 'cancelled'));
      await notifyJobEnd(job.jobId, 'job.cancelled');
    });
  const epilogue = <T>(fn: () => Promise<T>) => (cancelWins ? CancellationScope.nonCancellable(fn) : fn());

  let result: R;
  try {
    result = await withHeavySlot(job, job.run);
  } catch (err) {
    if (isCancellation(err) || (cancelWins && root.consideredCancelled)) {
      await endCancelled();
      throw isCancellation(err) ? err : new CancelledFailure('cancelled while the job was failing');
    }
    const failure = describeFailure(err);
    await epilogue(async () => {
      settle(finish(progress, 'failed', failure.message));
      if (failure.type !== ErrorType.JobNotFound) {
        await records.failJob(job.jobId, failure);
        // Kept parts let a redrive (POST /v1/jobs/{id}/retry) resume from the stored checkpoint.
        if (!job.keepPartsOnFailure) await records.discardParts(job.jobId);
        else if (job.failedPartsRetentionMs !== undefined && patched(FAILED_PARTS_EXPIRE_PATCH)) {
          await startChild(partsRetentionWorkflow, {
            workflowId: partsRetentionWorkflowId(job.jobId),
            args: [{ jobId: job.jobId, retentionMs: job.failedPartsRetentionMs }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
          });
        }
        await notifyJobEnd(job.jobId, 'job.failed');
      }
    });
    throw ApplicationFailure.nonRetryable(`${workflowInfo().workflowId}: ${failure.message}`, failure.type);
  }
  if (cancelWins && root.consideredCancelled) {
    // Cancelled while the activity published: the file it published goes with the parts.
    await endCancelled(result.storageKey);
    throw new CancelledFailure('cancelled while the result was published');
  }
  // From here the job has succeeded: a cancel now changes nothing (the API answers it 409).
  return epilogue(async () => {
    await records.completeJob(job.jobId, result);
    settle(finish((await job.finalProgress?.(progress, result)) ?? progress, 'succeeded', null));
    await records.discardParts(job.jobId);
    if (job.retentionMs !== undefined) {
      // An abandoned child: the job completes now, the retention timer runs on by itself.
      await startChild(retentionWorkflow, {
        workflowId: retentionWorkflowId(job.jobId),
        args: [{ jobId: job.jobId, retentionMs: job.retentionMs }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
    }
    await notifyJobEnd(job.jobId, 'job.succeeded');
    return result;
  });
}

/** Run `fn` holding one of the user's heavy slots (when the job is scheduled), released however it ends. */
async function withHeavySlot<R>(
  job: Pick<HeavyJob<JobResult>, 'jobId' | 'userId' | 'kind' | 'scheduling'>,
  fn: () => Promise<R>,
): Promise<R> {
  if (job.scheduling) {
    await slots.acquireHeavySlot({
      jobId: job.jobId,
      userId: job.userId,
      kind: job.kind,
      defaultLimit: job.scheduling.defaultMaxRunningHeavy,
    });
  }
  publishState('running');
  try {
    return await fn();
  } finally {
    if (job.scheduling) {
      await CancellationScope.nonCancellable(() => records.releaseHeavySlot(job.jobId));
    }
  }
}
