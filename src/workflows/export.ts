/**
 * One export job: run the heavy export on the `exports` queue with heartbeats and retries, keep live
 * progress for the query, and record the outcome through light activities (see heavy-job.ts).
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { ExportActivities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors.js';
import type { ExportResult, ExportWorkflowInput } from '../shared/jobs.js';
import { EXPORTS_QUEUE } from '../shared/temporal.js';
import { priorityOf, runHeavyJob } from './heavy-job.js';

export async function exportWorkflow(input: ExportWorkflowInput): Promise<ExportResult> {
  const { policy } = input;
  const heavy = proxyActivities<ExportActivities>({
    taskQueue: EXPORTS_QUEUE,
    // Temporal dispatches backlogged tasks by priority key, then in turn across fairness keys (users).
    ...priorityOf(input.scheduling),
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

  return runHeavyJob({
    jobId: input.jobId,
    userId: input.userId,
    kind: 'export',
    unit: 'rows',
    scheduling: input.scheduling,
    retentionMs: input.retentionMs,
    keepPartsOnFailure: true,
    run: () =>
      heavy.exportDataset({
        jobId: input.jobId,
        tenantId: input.tenantId,
        request: input.request,
        ...(input.resume ? { partsId: input.resume.partsId, resumeFrom: input.resume.checkpoint } : {}),
      }),
  });
}
