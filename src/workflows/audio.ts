/**
 * One audio job: synthesise and encode on the `audio` queue with heartbeats and retries (a retry
 * synthesises only the chunks no earlier attempt stored), keep live progress for the query, and record
 * the outcome through light activities. Cancelling stops the engine and deletes the stored chunks.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AudioActivities, JobRecordActivities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors.js';
import type { AudioResult, AudioWorkflowInput, Progress } from '../shared/jobs.js';
import { AUDIO_QUEUE, JOBS_QUEUE } from '../shared/temporal.js';
import { progressQuery, progressSignal } from './definitions.js';
import { applyReport, finish, initialProgress } from './progress-state.js';

// Record-keeping retries until the database is back: losing a job's outcome is not an option.
const records = proxyActivities<JobRecordActivities>({
  taskQueue: JOBS_QUEUE,
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

function describeFailure(err: unknown): { type: string; message: string } {
  let cause: unknown = err;
  if (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

export async function audioWorkflow(input: AudioWorkflowInput): Promise<AudioResult> {
  let progress: Progress = initialProgress('characters');
  setHandler(progressQuery, () => progress);
  setHandler(progressSignal, (report) => {
    progress = applyReport(progress, report);
  });

  const { policy } = input;
  const heavy = proxyActivities<AudioActivities>({
    taskQueue: AUDIO_QUEUE,
    // Chunks are stored as they finish and the heartbeat comes at least once per chunk, so a dead
    // worker is noticed within the heartbeat timeout and the retry loses at most the chunks in flight.
    heartbeatTimeout: policy.heartbeatTimeoutMs,
    startToCloseTimeout: policy.startToCloseTimeoutMs,
    // Wait for the activity to stop its engine processes before cleaning up its parts.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: policy.initialRetryIntervalMs,
      maximumInterval: policy.maxRetryIntervalMs,
      backoffCoefficient: 2,
      maximumAttempts: policy.maxAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });

  try {
    const result = await heavy.synthesizeAudio({
      jobId: input.jobId,
      request: input.request,
      chunkChars: input.chunkChars,
      segmentChars: input.segmentChars,
    });
    await records.completeJob(input.jobId, result);
    progress = finish({ ...progress, total: progress.total ?? result.characters }, 'succeeded', null);
    await records.discardParts(input.jobId);
    return result;
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        await records.cancelJob(input.jobId);
        await records.discardParts(input.jobId);
      });
      progress = finish(progress, 'cancelled', 'cancelled');
      throw err;
    }
    const failure = describeFailure(err);
    progress = finish(progress, 'failed', failure.message);
    if (failure.type !== 'JobNotFound') {
      await records.failJob(input.jobId, failure);
      await records.discardParts(input.jobId);
    }
    throw ApplicationFailure.nonRetryable(`${workflowInfo().workflowId}: ${failure.message}`, failure.type);
  }
}
