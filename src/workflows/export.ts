/**
 * One export job: run the heavy export on the `exports` queue with heartbeats and retries, keep live
 * progress for the query, and record the outcome through light activities (see heavy-job.ts).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ExportActivities } from '../activities/index.js';
import type { ExportResult, ExportWorkflowInput } from '../shared/jobs.js';
import { EXPORTS_QUEUE } from '../shared/temporal.js';
import { heavyActivityOptions, runHeavyJob } from './heavy-job.js';

export async function exportWorkflow(input: ExportWorkflowInput): Promise<ExportResult> {
  const heavy = proxyActivities<ExportActivities>(
    heavyActivityOptions({
      taskQueue: input.heavyQueue ?? EXPORTS_QUEUE,
      summary: `export ${input.request.dataset} as ${input.request.format}`,
      policy: input.policy,
      scheduling: input.scheduling,
    }),
  );

  return runHeavyJob({
    jobId: input.jobId,
    userId: input.userId,
    kind: 'export',
    unit: 'rows',
    scheduling: input.scheduling,
    retentionMs: input.retentionMs,
    failedPartsRetentionMs: input.policy.failedPartsRetentionMs,
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
