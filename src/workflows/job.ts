/**
 * The workflow of a job kind that needs nothing beyond its heavy activity (see src/kinds): the activity
 * named in the input runs on the kind's heavy queue with heartbeats and retries, inside the lifecycle
 * every job shares (heavy slot, progress, records, retention, notifications; see heavy-job.ts).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { JobResult, JobWorkflowInput } from '../shared/jobs.js';
import { heavyActivityOptions, runHeavyJob } from './heavy-job.js';

type HeavyActivities = Record<string, (input: unknown) => Promise<JobResult>>;

export async function jobWorkflow(input: JobWorkflowInput): Promise<JobResult> {
  const heavy = proxyActivities<HeavyActivities>(
    heavyActivityOptions({
      taskQueue: input.heavyQueue,
      summary: input.summary,
      policy: input.policy,
      scheduling: input.scheduling,
    }),
  );
  const run = heavy[input.activity]!;
  return runHeavyJob({
    jobId: input.jobId,
    userId: input.userId,
    kind: input.kind,
    unit: input.unit,
    scheduling: input.scheduling,
    retentionMs: input.retentionMs,
    failedPartsRetentionMs: input.policy.failedPartsRetentionMs,
    keepPartsOnFailure: input.keepPartsOnFailure ?? false,
    run: () => run(input.activityInput),
    // A kind whose activity never reported a total: what was done is the total.
    finalProgress: (progress) => ({ ...progress, total: progress.total ?? progress.done }),
  });
}
