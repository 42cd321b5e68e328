/**
 * The one way to make a job. Every kind's creation route (routes/job-kinds.ts) and the redrive
 * `POST /v1/jobs/{id}/retry` all call `createJob`: in one transaction it claims the Idempotency-Key (when
 * the request has one), runs admission (the heavy backlog, the owner's active-job cap, the priority) and
 * records the job row, which is the outbox of its workflow start. The caller answers as soon as that
 * commits; the insert notifies the outbox relay (src/outbox/relay.ts, in the workers), which starts the
 * workflow at once, off the API's request path and CPU.
 */
import type { Context } from 'hono';
import type { TransactionSql } from 'postgres';
import { inOneTransaction, type Sql } from '../../db/client.js';
import { getJob, txSql, type JobRow } from '../../db/jobs-repo.js';
import type { AdmittedJob } from '../../db/limits-repo.js';
import { limitsWithDefaults, userLimits } from '../../db/limits-repo.js';
import type { Principal } from '../../db/users-repo.js';
import { newJobId } from '../../lib/ids.js';
import { currentTraceparent } from '../../lib/tracing.js';
import { jobKinds } from '../../kinds/index.js';
import type { JobKind, JobNotify, JobRequest } from '../../shared/jobs.js';
import { workflowIdForJob } from '../../shared/temporal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { admitHeavyJob, defaultLimits, resolvePriority } from './admission.js';
import { claimInProgress, claimKey, idempotencyKeyOf, type IdempotencyContext } from './idempotency.js';

export interface JobSubmission {
  /** Who asks. A new job is theirs; a redrive belongs to the owner of the job it redrives. */
  principal: Principal;
  kind: JobKind;
  /** The request as the route validated it, notification fields split off. */
  request: JobRequest;
  notify: JobNotify | null;
  /**
   * The priority key asked for, checked against what the user may use (default 3). A redrive's is not
   * checked again: its job was admitted with it (the default is that job's).
   */
  priority?: number;
  /** Idempotency-Key context of a job-creating route; none for a redrive. */
  idempotency?: IdempotencyContext;
  /** A redrive: the failed or cancelled job this one continues (from its checkpoint when it failed). */
  retryOf?: JobRow;
}

export interface Created {
  job: JobRow;
  /** True when an earlier request with the same Idempotency-Key created the job: answer 200, not 202. */
  replayed: boolean;
}

/**
 * Record a job (or find the one an earlier request with the same key recorded) and set `Location` (and
 * `Idempotent-Replayed`); the relay starts its workflow. Throws the problem to answer
 * when admission refuses it (429, 503, 422) or the key was used with another body (422).
 */
export async function createJob(
  c: Context<AppEnv>,
  deps: Pick<AppDeps, 'config' | 'database' | 'log'>,
  submission: JobSubmission,
): Promise<Created> {
  const { db } = deps.database;
  const { principal, retryOf } = submission;
  const owner = retryOf ? { userId: retryOf.userId, tenantId: retryOf.tenantId } : principal;
  const key = idempotencyKeyOf(submission.idempotency);
  // The caller's own limits came with its key; a redrive's owner may be someone else.
  const limits =
    !retryOf && principal.limits
      ? limitsWithDefaults(principal.limits, defaultLimits(deps.config))
      : await userLimits(db, owner.userId, defaultLimits(deps.config));
  const id = newJobId();
  // A failed job kept its parts and checkpoint; a cancelled one deleted them and starts over.
  const resume = retryOf?.state === 'failed' && retryOf.checkpoint ? retryOf : undefined;

  const job: Omit<AdmittedJob, 'priority'> = {
    id,
    userId: owner.userId,
    tenantId: owner.tenantId,
    kind: submission.kind,
    request: submission.request,
    notify: submission.notify,
    workflowId: workflowIdForJob(id),
    retryOf: retryOf?.id ?? null,
    partsId: resume ? (resume.partsId ?? resume.id) : null,
    checkpoint: resume ? resume.checkpoint : null,
    // The request's trace, continued by the relay when it starts the workflow.
    traceContext: currentTraceparent() ?? null,
  };
  // A redrive runs at the priority its job was admitted with; a new job's is checked against the user's
  // (after the key's claim, as before: a replay answers with its job).
  const admit = async (sql: Sql | TransactionSql) => {
    const priority = retryOf
      ? (submission.priority ?? retryOf.priority)
      : resolvePriority(submission.priority, limits);
    return admitHeavyJob(sql, deps.config, limits, { ...job, priority });
  };
  // Without a key, admission and the insert are one round trip, begin to commit; with one, the claim
  // comes first in the same transaction (a duplicate waits for it, then finds the job).
  const recorded: { job: JobRow } | { earlier: string } =
    key === undefined
      ? { job: await inOneTransaction(deps.database.sql, admit) }
      : await db.transaction(async (tx) => {
          const earlier = await claimKey(tx, owner.userId, { ...submission.idempotency!, key }, id);
          return earlier ? { earlier: earlier.jobId } : { job: await admit(txSql(tx)) };
        });

  if ('earlier' in recorded) {
    // The claim committed with its job, so the job is there (see claimInProgress for the exception).
    const job = await getJob(db, recorded.earlier);
    if (!job) throw claimInProgress();
    c.header('location', `/v1/jobs/${job.id}`);
    c.header('idempotent-replayed', 'true');
    return { job, replayed: true };
  }
  const created = recorded.job;
  const log = deps.log.child({
    jobId: created.id,
    workflowId: created.workflowId,
    userId: created.userId,
    ...(retryOf ? { retryOf: retryOf.id } : {}),
  });
  log.info(acceptedDetail(created), retryOf ? 'redrive accepted' : `${created.kind} accepted`);
  c.header('location', `/v1/jobs/${created.id}`);
  return { job: created, replayed: false };
}

/** What the log says about an accepted job: what its kind tells (an audio job's text only by its length). */
function acceptedDetail(job: JobRow): Record<string, unknown> {
  if (job.retryOf) return { resumeFrom: job.checkpoint };
  const describe = jobKinds.get(job.kind)?.describe;
  return describe ? describe(job.request) : { request: job.request };
}
