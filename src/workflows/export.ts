/**
 * One export job: run the heavy export on the `exports` queue with heartbeats and retries, keep live
 * progress for the query, and record the outcome in PostgreSQL through light activities.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  startChild,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ExportActivities, JobRecordActivities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors.js';
import type { ExportResult, ExportWorkflowInput, Progress } from '../shared/jobs.js';
import { EXPORTS_QUEUE, JOBS_QUEUE, retentionWorkflowId } from '../shared/temporal.js';
import { progressQuery, progressSignal } from './definitions.js';
import { notifyJobEnd } from './notify.js';
import { publishProgress, publishState } from './observability.js';
import { applyReport, finish, initialProgress } from './progress-state.js';
import { retentionWorkflow } from './retention.js';

// Record-keeping retries until the database is back: losing a job's outcome is not an option.
const records = proxyActivities<JobRecordActivities>({
  taskQueue: JOBS_QUEUE,
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

// Waiting for one of the user's heavy slots: each try is one quick query, retried by the server until a
// slot is free. Retries write no history events, so a long wait keeps the history small; the short
// maximum interval bounds how long a freed slot stays unused.
const slots = proxyActivities<Pick<JobRecordActivities, 'acquireHeavySlot'>>({
  taskQueue: JOBS_QUEUE,
  startToCloseTimeout: '30s',
  retry: { initialInterval: '250ms', backoffCoefficient: 1.5, maximumInterval: '2s' },
});

/** The failure's type and message as a user should see them. */
function describeFailure(err: unknown): { type: string; message: string } {
  let cause: unknown = err;
  if (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

export async function exportWorkflow(input: ExportWorkflowInput): Promise<ExportResult> {
  let progress: Progress = initialProgress('rows');
  setHandler(progressQuery, () => progress);
  setHandler(progressSignal, (report) => {
    progress = applyReport(progress, report);
    publishProgress(progress);
  });

  const { policy, scheduling } = input;
  const heavy = proxyActivities<ExportActivities>({
    taskQueue: EXPORTS_QUEUE,
    // Temporal dispatches backlogged tasks by priority key, then in turn across fairness keys (users).
    ...(scheduling
      ? { priority: { priorityKey: scheduling.priority, fairnessKey: scheduling.fairnessKey } }
      : {}),
    heartbeatTimeout: policy.heartbeatTimeoutMs,
    startToCloseTimeout: policy.startToCloseTimeoutMs,
    summary: `export ${input.request.dataset} as ${input.request.format}`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: policy.initialRetryIntervalMs,
      maximumInterval: policy.maxRetryIntervalMs,
      backoffCoefficient: 2,
      maximumAttempts: policy.maxAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });

  let holdsSlot = false;
  const releaseSlot = async () => {
    if (!holdsSlot) return;
    await CancellationScope.nonCancellable(() => records.releaseHeavySlot(input.jobId));
    holdsSlot = false;
  };
  try {
    if (scheduling) {
      await slots.acquireHeavySlot({
        jobId: input.jobId,
        userId: input.userId,
        kind: 'export',
        defaultLimit: scheduling.defaultMaxRunningHeavy,
      });
      holdsSlot = true;
    }
    publishState('running');
    let result: ExportResult;
    try {
      result = await heavy.exportDataset({
        jobId: input.jobId,
        tenantId: input.tenantId,
        request: input.request,
        ...(input.resume ? { partsId: input.resume.partsId, resumeFrom: input.resume.checkpoint } : {}),
      });
    } finally {
      await releaseSlot();
    }
    await records.completeJob(input.jobId, result);
    progress = finish(progress, 'succeeded', null);
    publishState('succeeded');
    publishProgress(progress);
    await records.discardParts(input.jobId);
    if (input.retentionMs !== undefined) {
      // An abandoned child: the export completes now, the retention timer runs on by itself.
      await startChild(retentionWorkflow, {
        workflowId: retentionWorkflowId(input.jobId),
        args: [{ jobId: input.jobId, retentionMs: input.retentionMs }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
    }
    await notifyJobEnd(input.jobId, 'job.succeeded');
    return result;
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        // Parts first: once the job reads `cancelled`, its partial output is already gone.
        await records.discardParts(input.jobId);
        await records.cancelJob(input.jobId);
        progress = finish(progress, 'cancelled', 'cancelled');
        publishState('cancelled');
        publishProgress(progress);
        await notifyJobEnd(input.jobId, 'job.cancelled');
      });
      throw err;
    }
    const failure = describeFailure(err);
    progress = finish(progress, 'failed', failure.message);
    publishState('failed');
    publishProgress(progress);
    if (failure.type !== 'JobNotFound') {
      // The parts stay: a redrive (POST /v1/jobs/{id}/retry) resumes from the stored checkpoint.
      await records.failJob(input.jobId, failure);
      await notifyJobEnd(input.jobId, 'job.failed');
    }
    throw ApplicationFailure.nonRetryable(`${workflowInfo().workflowId}: ${failure.message}`, failure.type);
  }
}
