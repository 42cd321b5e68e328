/**
 * Retention of one job's result: wait the retention period (a durable timer), then delete the file and
 * mark the job `expired`. Started by runHeavyJob (heavy-job.ts) for a job of any kind that succeeded
 * with a retention period, as an abandoned child, so the job itself completes at once and this timer
 * outlives it.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { JobRecordActivities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors.js';
import type { RetentionWorkflowInput } from '../shared/jobs.js';

const records = proxyActivities<JobRecordActivities>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '1s', maximumInterval: '5m', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

export async function retentionWorkflow(input: RetentionWorkflowInput): Promise<void> {
  await sleep(input.retentionMs);
  await records.expireJob(input.jobId);
}

/**
 * Retention of a failed job's kept parts: wait, then delete them and the checkpoint that points at
 * them, unless a redrive took them over (it deletes them when it succeeds, or keeps its own timer).
 */
export async function partsRetentionWorkflow(input: RetentionWorkflowInput): Promise<void> {
  await sleep(input.retentionMs);
  await records.expireFailedParts(input.jobId);
}
