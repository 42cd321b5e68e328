/**
 * One audio job: synthesise and encode on the `audio` queue with heartbeats and retries (a retry
 * synthesises only the chunks no earlier attempt stored), keep live progress for the query, and record
 * the outcome through light activities (see heavy-job.ts). Cancelling stops the engine and deletes the
 * stored chunks.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { AudioActivities } from '../activities/index.js';
import type { AudioResult, AudioWorkflowInput } from '../shared/jobs.js';
import { AUDIO_QUEUE } from '../shared/temporal.js';
import { heavyActivityOptions, runHeavyJob } from './heavy-job.js';

export async function audioWorkflow(input: AudioWorkflowInput): Promise<AudioResult> {
  // Chunks are stored as they finish and the activity heartbeats at every chunk and every 0.5 s besides
  // (publish included), so a dead worker is noticed within the heartbeat timeout and the retry loses at
  // most the chunks in flight.
  const heavy = proxyActivities<AudioActivities>(
    heavyActivityOptions({
      taskQueue: input.heavyQueue ?? AUDIO_QUEUE,
      summary: `speech ${input.request.text.length} characters as ${input.request.format}`,
      policy: input.policy,
      scheduling: input.scheduling,
    }),
  );

  return runHeavyJob({
    jobId: input.jobId,
    userId: input.userId,
    kind: 'audio',
    unit: 'characters',
    scheduling: input.scheduling,
    retentionMs: input.retentionMs,
    failedPartsRetentionMs: input.policy.failedPartsRetentionMs,
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
