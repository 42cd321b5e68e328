/**
 * Starting a recorded job's workflow. The job row is the outbox: the API commits it and answers, and the
 * relay (./relay.ts, in the workers that serve `jobs`) starts its workflow with this. The workflow id is
 * derived from the job id, so a second start is a no-op; the start is confirmed on the row.
 */
import { context } from '@opentelemetry/api';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../config/env.js';
import { markWorkflowStarted, type DbOrTx, type JobRow } from '../db/jobs-repo.js';
import { jobKinds } from '../kinds/index.js';
import { contextFromTraceparent } from '../lib/tracing.js';
import type { Scheduling } from '../shared/jobs.js';
import { jobSearchAttributes } from '../shared/search-attributes.js';
import { JOBS_QUEUE, prefixedQueue } from '../shared/temporal.js';

/** Priority and fairness of a job's tasks: the fairness key is the user, so users take turns. */
export function schedulingFor(config: Config, job: JobRow): Scheduling {
  return {
    priority: job.priority,
    fairnessKey: job.userId,
    defaultMaxRunningHeavy: config.USER_MAX_RUNNING_HEAVY,
  };
}

/** The workflow type, input and summary that run a recorded job, from its kind. */
function workflowFor(job: JobRow, config: Config) {
  const kind = jobKinds.get(job.kind);
  if (!kind) throw new Error(`job ${job.id} has kind ${job.kind}, which this process does not know`);
  const scheduling = schedulingFor(config, job);
  const workflow = kind.workflow(job, {
    config,
    queue: (base) => prefixedQueue(config.TASK_QUEUE_PREFIX, base),
    scheduling,
    retentionMs: config.EXPORT_RETENTION_MS,
  });
  return { ...workflow, scheduling };
}

export class JobStarter {
  constructor(private readonly deps: { config: Config; temporal: Client }) {}

  /**
   * Start the workflow of a recorded job and confirm it on the row, through `db` (the relay's
   * transaction that holds the row). Safe to call any number of times.
   */
  async start(job: JobRow, db: DbOrTx): Promise<void> {
    const { type, input, summary, scheduling } = workflowFor(job, this.deps.config);
    try {
      // Inside the trace of the request that created the job (when it had one): the client's tracing
      // interceptor passes it on to the workflow in the start's headers.
      await context.with(contextFromTraceparent(job.traceContext), () =>
        this.deps.temporal.workflow.start(type, {
          workflowId: job.workflowId,
          taskQueue: prefixedQueue(this.deps.config.TASK_QUEUE_PREFIX, JOBS_QUEUE),
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: jobSearchAttributes(job),
          // Inherited by the workflow's activities; the heavy activity also sets it explicitly.
          priority: { priorityKey: scheduling.priority, fairnessKey: scheduling.fairnessKey },
          staticSummary: summary,
        }),
      );
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    // A cancel that found no workflow yet only marked the row cancelled (POST /v1/jobs/{id}/cancel): a
    // workflow started after that must not run the job. Cancelling a closed workflow fails; nothing to do.
    if ((await markWorkflowStarted(db, job.id)) === 'cancelled') {
      await this.deps.temporal.workflow
        .getHandle(job.workflowId)
        .cancel()
        .catch(() => undefined);
    }
  }
}
