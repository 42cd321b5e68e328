/** Job records: creation, state transitions (each recorded in job_events) and attempt accounting. */
import { and, eq, isNull, sql } from 'drizzle-orm';
import type {
  ExportCheckpoint,
  JobError,
  JobKind,
  JobNotify,
  JobRequest,
  JobResult,
  JobState,
} from '../shared/jobs.js';
import type { TransactionSql } from 'postgres';
import type { Db } from './client.js';
import { preparedPerDb } from './prepared.js';
import { audioChunks, jobAttempts, jobEvents, jobs } from './schema.js';

export type JobRow = typeof jobs.$inferSelect;

/** An open transaction. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** The database handle or an open transaction on it. */
export type DbOrTx = Db | Tx;

/**
 * The postgres.js connection under a drizzle transaction, for statements drizzle would send unprepared
 * (postgres.js describes an unprepared statement with parameters in a round trip of its own before
 * running it) or one at a time. Its tagged queries are prepared and pipelined: queries issued together
 * go out in one write and run in the order issued.
 */
export function txSql(tx: Tx): TransactionSql {
  const client = (tx as unknown as { session?: { client?: TransactionSql } }).session?.client;
  if (typeof client?.unsafe !== 'function') throw new Error('not a postgres.js drizzle transaction');
  return client;
}

export interface NewJob {
  id: string;
  userId: string;
  tenantId: string;
  kind: JobKind;
  request: JobRequest;
  workflowId: string;
  notify?: JobNotify | null;
  retryOf?: string | null;
  partsId?: string | null;
  checkpoint?: ExportCheckpoint | null;
  /** Temporal priority key (1..5); 3 when omitted. */
  priority?: number;
  /** W3C `traceparent` of the creating request, when tracing is on. */
  traceContext?: string | null;
}

/**
 * Record a queued job and its event without admission: for seeding jobs (tests). A submission's job is
 * recorded by `admitJob` (limits-repo.ts), which counts and inserts in one statement.
 */
export async function insertJob(db: Db, job: NewJob): Promise<JobRow> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .insert(jobs)
      .values({ ...job, state: 'queued' })
      .returning();
    await tx.insert(jobEvents).values({ jobId: job.id, state: 'queued' });
    return row!;
  });
}

/** The reads every status request makes. */
const reads = preparedPerDb((db) => {
  const id = sql.placeholder('id');
  return {
    job: db.select().from(jobs).where(eq(jobs.id, id)).limit(1).prepare('offload_job'),
    jobForUser: db
      .select()
      .from(jobs)
      .where(and(eq(jobs.id, id), eq(jobs.userId, sql.placeholder('userId'))))
      .limit(1)
      .prepare('offload_job_for_user'),
    retryOf: db.select().from(jobs).where(eq(jobs.retryOf, id)).limit(1).prepare('offload_job_retry_of'),
    attempts: db
      .select()
      .from(jobAttempts)
      .where(eq(jobAttempts.jobId, id))
      .orderBy(jobAttempts.attempt)
      .prepare('offload_job_attempts'),
  };
});

export async function getJob(db: Db, id: string): Promise<JobRow | undefined> {
  const [row] = await reads(db).job.execute({ id });
  return row;
}

/** A job as its owner sees it: another user's job is indistinguishable from a missing one. */
export async function getJobForUser(db: Db, id: string, userId: string): Promise<JobRow | undefined> {
  const [row] = await reads(db).jobForUser.execute({ id, userId });
  return row;
}

/** A job as a caller sees it: admins see every job, users only their own. */
export async function getJobFor(
  db: Db,
  id: string,
  who: { userId: string; scope: 'user' | 'admin' },
): Promise<JobRow | undefined> {
  return who.scope === 'admin' ? getJob(db, id) : getJobForUser(db, id, who.userId);
}

/**
 * Records that the job's workflow start was confirmed (the first confirmation counts) and returns the
 * job's state as it is now, in one statement: the starter needs both, once per job.
 */
export async function markWorkflowStarted(db: DbOrTx, id: string): Promise<JobRow['state'] | undefined> {
  const [row] = await db
    .update(jobs)
    .set({ workflowStartedAt: sql`coalesce(${jobs.workflowStartedAt}, now())` })
    .where(eq(jobs.id, id))
    .returning({ state: jobs.state });
  return row?.state;
}

/**
 * The oldest queued job whose workflow start is not confirmed, locked until the caller's transaction
 * ends; rows other relays hold are skipped, and so are the ids in `skip` (starts that just failed).
 * The ids go as one text array literal: sql.array() needs array types postgres.js may not have fetched.
 */
export async function claimUnstartedJob(tx: DbOrTx, skip: readonly string[]): Promise<JobRow | undefined> {
  const skipped = `{${skip.map((id) => `"${id.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
  const [row] = await tx
    .select()
    .from(jobs)
    .where(
      and(
        eq(jobs.state, 'queued'),
        isNull(jobs.workflowStartedAt),
        sql`not (${jobs.id} = any(${skipped}::text[]))`,
      ),
    )
    .orderBy(jobs.createdAt)
    .limit(1)
    .for('update', { skipLocked: true });
  return row;
}

const ACTIVE: JobState[] = ['queued', 'running'];

interface Transition {
  state: JobState;
  attempt?: number;
  detail?: string;
  set?: Partial<typeof jobs.$inferInsert>;
}

/**
 * Move a job to a new state if it is still active. Idempotent: an activity retried after the write
 * landed changes nothing. Returns the row, or undefined when the job does not exist.
 */
async function transition(db: Db, id: string, t: Transition): Promise<JobRow | undefined> {
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(jobs).where(eq(jobs.id, id)).for('update');
    if (!current) return undefined;
    const sameRunningAttempt =
      t.state === 'running' && current.state === 'running' && current.attempts === t.attempt;
    if (
      !ACTIVE.includes(current.state) ||
      (current.state === t.state && (t.state !== 'running' || sameRunningAttempt))
    ) {
      return current;
    }
    const [row] = await tx
      .update(jobs)
      .set({ state: t.state, updatedAt: new Date(), ...t.set })
      .where(eq(jobs.id, id))
      .returning();
    await tx.insert(jobEvents).values({ jobId: id, state: t.state, attempt: t.attempt, detail: t.detail });
    return row;
  });
}

export function markJobRunning(db: Db, id: string, attempt: number) {
  return transition(db, id, {
    state: 'running',
    attempt,
    set: {
      attempts: attempt,
      startedAt: sql`coalesce(${jobs.startedAt}, now())` as never,
      workflowStartedAt: sql`coalesce(${jobs.workflowStartedAt}, now())` as never,
    },
  });
}

export function markJobSucceeded(db: Db, id: string, result: JobResult, attempts: number) {
  return transition(db, id, {
    state: 'succeeded',
    attempt: attempts,
    set: { result, attempts, finishedAt: new Date() },
  });
}

export function markJobFailed(db: Db, id: string, error: JobError) {
  return transition(db, id, {
    state: 'failed',
    attempt: error.attempts,
    detail: `${error.type}: ${error.message}`,
    set: { error, attempts: error.attempts, finishedAt: new Date() },
  });
}

export function markJobCancelled(db: Db, id: string) {
  // Cancelling deletes the partial output, so the checkpoint no longer points at anything.
  return transition(db, id, { state: 'cancelled', set: { finishedAt: new Date(), checkpoint: null } });
}

/** Persist the heavy activity's last checkpoint, so that a redrive of a failed job can resume from it. */
export async function saveCheckpoint(db: Db, id: string, partsId: string, checkpoint: ExportCheckpoint) {
  await db
    .update(jobs)
    .set({ checkpoint, partsId })
    .where(and(eq(jobs.id, id), eq(jobs.state, 'running')));
}

/** Forget a failed job's checkpoint (its parts are being deleted): a redrive then starts over. */
export async function clearCheckpoint(db: Db, id: string) {
  await db
    .update(jobs)
    .set({ checkpoint: null, partsId: null })
    .where(and(eq(jobs.id, id), eq(jobs.state, 'failed')));
}

/** The job that redrives this one, if any. */
export async function findRetryOf(db: Db, id: string): Promise<JobRow | undefined> {
  const [row] = await reads(db).retryOf.execute({ id });
  return row;
}

/** A succeeded job whose file retention deleted. Only a succeeded job expires; returns the row or undefined. */
export async function markJobExpired(db: Db, id: string): Promise<JobRow | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(jobs)
      .set({ state: 'expired', updatedAt: new Date() })
      .where(and(eq(jobs.id, id), eq(jobs.state, 'succeeded')))
      .returning();
    if (row)
      await tx.insert(jobEvents).values({ jobId: id, state: 'expired', detail: 'retention period over' });
    return row;
  });
}

export async function listJobEvents(db: Db, id: string) {
  return db.select().from(jobEvents).where(eq(jobEvents.jobId, id)).orderBy(jobEvents.id);
}

export async function recordAttemptStart(
  db: Db,
  a: { jobId: string; attempt: number; worker: string; resumedFromRows: number },
): Promise<void> {
  await db
    .insert(jobAttempts)
    .values(a)
    .onConflictDoUpdate({
      target: [jobAttempts.jobId, jobAttempts.attempt],
      set: { worker: a.worker, resumedFromRows: a.resumedFromRows, startedAt: new Date(), rowsRead: 0 },
    });
}

export async function recordAttemptEnd(db: Db, a: { jobId: string; attempt: number; rowsRead: number }) {
  await db
    .update(jobAttempts)
    .set({ rowsRead: a.rowsRead, finishedAt: new Date() })
    .where(and(eq(jobAttempts.jobId, a.jobId), eq(jobAttempts.attempt, a.attempt)));
}

export async function listAttempts(db: Db, jobId: string) {
  return reads(db).attempts.execute({ id: jobId });
}

/** Record that `attempt` synthesised and stored chunk `chunkIndex` of an audio job. */
export async function recordAudioChunk(
  db: Db,
  c: {
    jobId: string;
    chunkIndex: number;
    attempt: number;
    worker: string;
    characters: number;
    samples: number;
  },
): Promise<void> {
  await db.insert(audioChunks).values(c).onConflictDoNothing();
}

export async function listAudioChunks(db: Db, jobId: string) {
  return db
    .select()
    .from(audioChunks)
    .where(eq(audioChunks.jobId, jobId))
    .orderBy(audioChunks.chunkIndex, audioChunks.attempt);
}
