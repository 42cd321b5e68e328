/**
 * Starting job workflows, with the job row as an outbox: the API commits the job row and answers, then
 * starts its workflow off the request path (workflow id derived from the job id, so a second start is a
 * no-op) and marks it started. If the start fails or the process dies in between, the sweeper finds the
 * queued, unstarted row and starts it.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../../config/env.js';
import type { Database } from '../../db/client.js';
import { findUnstartedJobs, markWorkflowStarted, type JobRow } from '../../db/jobs-repo.js';
import type { Logger } from '../../lib/logger.js';
import { jobKinds } from '../../kinds/index.js';
import type { Scheduling } from '../../shared/jobs.js';
import { jobSearchAttributes } from '../../shared/search-attributes.js';
import { JOBS_QUEUE, prefixedQueue } from '../../shared/temporal.js';

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
  if (!kind) throw new Error(`job ${job.id} has kind ${job.kind}, which this API does not know`);
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
  /** Starts begun by startSoon that have not settled yet. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly deps: { config: Config; database: Database; temporal: Client; log: Logger }) {}

  /** Start the workflow of a recorded job. Safe to call any number of times. */
  async start(job: JobRow): Promise<void> {
    const { type, input, summary, scheduling } = workflowFor(job, this.deps.config);
    const { db } = this.deps.database;
    try {
      await this.deps.temporal.workflow.start(type, {
        workflowId: job.workflowId,
        taskQueue: prefixedQueue(this.deps.config.TASK_QUEUE_PREFIX, JOBS_QUEUE),
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: jobSearchAttributes(job),
        // Inherited by the workflow's activities; the heavy activity also sets it explicitly.
        priority: { priorityKey: scheduling.priority, fairnessKey: scheduling.fairnessKey },
        staticSummary: summary,
      });
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

  /**
   * Start a just-recorded job's workflow off the request path: the caller answers as soon as the row is
   * committed. A failed start is logged and left to the outbox sweeper.
   */
  startSoon(job: JobRow, log: Logger): void {
    const started = this.start(job).then(
      () => log.debug('workflow started'),
      (err: unknown) => log.error({ err }, 'workflow start failed; the outbox sweeper will retry'),
    );
    this.pending.add(started);
    void started.finally(() => this.pending.delete(started));
  }

  /** Resolves when every start begun by startSoon so far has settled (for shutdown and tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Start every job left queued without a workflow for longer than `olderThanMs`. Returns how many. */
  async sweep(olderThanMs: number): Promise<number> {
    const pending = await findUnstartedJobs(this.deps.database.db, olderThanMs);
    let started = 0;
    for (const job of pending) {
      try {
        await this.start(job);
        started++;
        this.deps.log.warn(
          { jobId: job.id, workflowId: job.workflowId },
          'started an orphaned job from the outbox',
        );
      } catch (err) {
        this.deps.log.error({ jobId: job.id, err }, 'outbox start failed; will retry');
      }
    }
    return started;
  }

  /** Sweep periodically until the returned function is called. */
  runSweeper(intervalMs: number, olderThanMs: number): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.sweep(olderThanMs)
        .catch((err: unknown) => this.deps.log.error({ err }, 'outbox sweep failed'))
        .finally(() => {
          running = false;
        });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
