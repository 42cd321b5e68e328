/**
 * One audio job: synthesise and encode on the `audio` queue with heartbeats and retries (a retry
 * synthesises only the chunks no earlier attempt stored), keep live progress for the query, and record
 * the outcome through light activities (see heavy-job.ts). Cancelling stops the engine and deletes the
 * stored chunks.
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { AudioActivities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors.js';
import type { AudioResult, AudioWorkflowInput } from '../shared/jobs.js';
import { AUDIO_QUEUE } from '../shared/temporal.js';
import { priorityOf, runHeavyJob } from './heavy-job.js';

export async function audioWorkflow(input: AudioWorkflowInput): Promise<AudioResult> {
  const { policy } = input;
  const heavy = proxyActivities<AudioActivities>({
    taskQueue: AUDIO_QUEUE,
    ...priorityOf(input.scheduling),
    // Chunks are stored as they finish and the heartbeat comes at least once per chunk, so a dead
    // worker is noticed within the heartbeat timeout and the retry loses at most the chunks in flight.
    heartbeatTimeout: policy.heartbeatTimeoutMs,
    startToCloseTimeout: policy.startToCloseTimeoutMs,
    summary: `speech ${input.request.text.length} characters as ${input.request.format}`,
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

  return runHeavyJob({
    jobId: input.jobId,
    userId: input.userId,
    kind: 'audio',
    unit: 'characters',
    scheduling: input.scheduling,
    retentionMs: input.retentionMs,
    // A redrive of an audio job starts over; its chunks are not kept.
    keepPartsOnFailure: false,
    run: () =>
      heavy.synthesizeAudio({
        jobId: input.jobId,
        request: input.request,
        chunkChars: input.chunkChars,
        segmentChars: input.segmentChars,
      }),
    finalProgress: (progress, result) => ({ ...progress, total: progress.total ?? result.characters }),
  });
}
