/**
 * Shared limits kept in PostgreSQL, so every API and worker process sees the same numbers: per-user
 * request token buckets, admission of new jobs (per-user active cap, global heavy backlog) and the
 * per-user slots of heavy activities.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { JobKind } from '../shared/jobs.js';
import type { Db, Sql } from './client.js';
import type { TransactionSql } from 'postgres';
import type { JobRow, NewJob } from './jobs-repo.js';
import { heavySlots, jobs, users } from './schema.js';
import type { OwnLimits } from './users-repo.js';

export interface TokenBucket {
  /** Tokens the bucket holds when full. */
  capacity: number;
  /** Tokens added per second. */
  refillPerSec: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Tokens left after this request. */
  remaining: number;
}

/** The bucket's tokens refilled for the time since its last use ($2 capacity, $3 tokens per second). */
const REFILLED = 'least($2::float8, b.tokens + extract(epoch from (now() - b.refreshed_at)) * $3::float8)';
const TAKE_TOKEN = `
  insert into rate_limit_buckets as b (key, tokens, refreshed_at, allowed)
  values ($1, $2::float8 - 1, now(), true)
  on conflict (key) do update set
    tokens = case when ${REFILLED} >= 1 then ${REFILLED} - 1 else ${REFILLED} end,
    allowed = ${REFILLED} >= 1,
    refreshed_at = now()
  returning tokens, allowed`;

/**
 * Take one token from `key`'s bucket, refilled for the time since its last use. One statement (one round
 * trip), atomic under concurrency: the upsert's row lock serialises takes of the same key across
 * processes. The API runs it on connections with `synchronous_commit = off` (AppDeps.rateLimitDatabase):
 * one round trip, and no wait for the WAL flush while the row is locked.
 */
export async function takeToken(db: Db, key: string, bucket: TokenBucket): Promise<TakeResult> {
  const { capacity, refillPerSec } = bucket;
  // A fixed statement text (not built per request): the busiest query of the API. Prepared: unprepared,
  // postgres.js would spend a round trip describing it before each run.
  const rows = await db.$client.unsafe<{ tokens: number; allowed: boolean }[]>(
    TAKE_TOKEN,
    [key, capacity, refillPerSec],
    { prepare: true },
  );
  const row = rows[0]!;
  return { allowed: row.allowed, remaining: Number(row.tokens) };
}

/** The limits that apply to one user: their own overrides, else the defaults. */
export interface UserLimits {
  maxActiveJobs: number;
  maxRunningHeavy: number;
  highestPriority: number;
}

/** A user's own limits where set, the defaults elsewhere. */
export function limitsWithDefaults(own: Partial<OwnLimits> | undefined, defaults: UserLimits): UserLimits {
  return {
    maxActiveJobs: own?.maxActiveJobs ?? defaults.maxActiveJobs,
    maxRunningHeavy: own?.maxRunningHeavy ?? defaults.maxRunningHeavy,
    highestPriority: own?.highestPriority ?? defaults.highestPriority,
  };
}

export async function userLimits(db: Db, userId: string, defaults: UserLimits): Promise<UserLimits> {
  const [row] = await db
    .select({
      maxActiveJobs: users.maxActiveJobs,
      maxRunningHeavy: users.maxRunningHeavy,
      highestPriority: users.highestPriority,
    })
    .from(users)
    .where(eq(users.id, userId));
  return limitsWithDefaults(row, defaults);
}

/** Set (or, with null, clear) a user's own limits. */
export async function setUserLimits(
  db: Db,
  userId: string,
  limits: Partial<Record<keyof UserLimits, number | null>>,
) {
  await db.update(users).set(limits).where(eq(users.id, userId));
}

export type Admission =
  | { admitted: true; job: JobRow }
  | { admitted: false; reason: 'user-active-cap'; active: number; limit: number }
  | { admitted: false; reason: 'heavy-backlog'; backlog: number; limit: number };

const ACTIVE_STATES = ['queued', 'running'] as const;

/** A new job as admission records it: with its priority key. */
export type AdmittedJob = NewJob & { priority: number };

/**
 * Record a new job if the global heavy backlog and the user's active-job cap allow it, inside a
 * transaction the caller has begun on `sql`: a per-user advisory lock (held until that transaction
 * ends) keeps concurrent submissions of one user from overshooting. The counts are the ones triggers
 * keep (`job_backlog`, `user_active_jobs`): at most 32 rows read however many jobs wait or run.
 *
 * Both statements are sent before this returns (so `inOneTransaction` can send the commit after them):
 * the lock, then one statement that reads the counts, inserts the job and its `queued` event when they
 * allow it, and returns the counts. The server runs them in order, so the counts are read once the lock
 * is held and see every job of this user committed before it.
 */
export function admitJob(
  sql: Sql | TransactionSql,
  job: AdmittedJob,
  limits: { maxActiveJobs: number; heavyBacklogMax: number },
): Promise<Admission> {
  const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));
  const lock = sql`select pg_advisory_xact_lock(hashtextextended(${`active:${job.userId}`}, 0))`.execute();
  const admit = sql<AdmitRow[]>`
    with c as (
      select (select coalesce(sum(queued), 0)::int from job_backlog) as backlog,
             (select coalesce(sum(active), 0)::int from user_active_jobs where user_id = ${job.userId}::text) as active
    ), j as (
      insert into jobs (id, user_id, tenant_id, kind, state, priority, request, workflow_id, notify,
                        retry_of, parts_id, checkpoint, trace_context)
      select ${job.id}::text, ${job.userId}::text, ${job.tenantId}::text, ${job.kind}::text, 'queued',
             ${job.priority}::int, ${json(job.request)}::jsonb, ${job.workflowId}::text,
             ${json(job.notify)}::jsonb, ${job.retryOf ?? null}::text, ${job.partsId ?? null}::text,
             ${json(job.checkpoint)}::jsonb, ${job.traceContext ?? null}::text
      from c where c.backlog < ${limits.heavyBacklogMax}::int and c.active < ${limits.maxActiveJobs}::int
      returning id, created_at, updated_at
    ), e as (
      insert into job_events (job_id, state) select id, 'queued' from j
    )
    select c.backlog, c.active, j.created_at, j.updated_at from c left join j on true`.execute();
  return Promise.all([lock, admit]).then(([, [row]]): Admission => {
    const { backlog, active } = row!;
    if (row!.created_at !== null && row!.updated_at !== null)
      return { admitted: true, job: insertedRow(job, row!.created_at, row!.updated_at) };
    if (backlog >= limits.heavyBacklogMax)
      return { admitted: false, reason: 'heavy-backlog', backlog, limit: limits.heavyBacklogMax };
    return { admitted: false, reason: 'user-active-cap', active, limit: limits.maxActiveJobs };
  });
}

interface AdmitRow {
  backlog: number;
  active: number;
  /** The inserted job's timestamps (as the driver hands them over, text); null when refused. */
  created_at: string | null;
  updated_at: string | null;
}

/** The row `admitJob` inserted: what it was given, the columns' defaults, the server's timestamps. */
function insertedRow(job: AdmittedJob, createdAt: string, updatedAt: string): JobRow {
  return {
    id: job.id,
    userId: job.userId,
    tenantId: job.tenantId,
    kind: job.kind,
    state: 'queued',
    priority: job.priority,
    request: job.request,
    workflowId: job.workflowId,
    workflowStartedAt: null,
    attempts: 0,
    result: null,
    error: null,
    notify: job.notify ?? null,
    checkpoint: job.checkpoint ?? null,
    partsId: job.partsId ?? null,
    retryOf: job.retryOf ?? null,
    traceContext: job.traceContext ?? null,
    createdAt: new Date(createdAt),
    startedAt: null,
    finishedAt: null,
    updatedAt: new Date(updatedAt),
  };
}

/**
 * Take a heavy slot for `jobId` if its user holds fewer than their limit (their own maxRunningHeavy, else
 * `defaultLimit`). Slots of jobs that are no longer active do not count. Idempotent: a job that already
 * holds a slot gets true again.
 */
export async function acquireHeavySlot(
  db: Db,
  slot: { jobId: string; userId: string; kind: JobKind; defaultLimit: number },
): Promise<{ acquired: boolean; held: number; limit: number }> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`heavy:${slot.userId}`}, 0))`);
    const [own] = await tx.select().from(heavySlots).where(eq(heavySlots.jobId, slot.jobId));
    const [user] = await tx
      .select({ limit: users.maxRunningHeavy })
      .from(users)
      .where(eq(users.id, slot.userId));
    const limit = user?.limit ?? slot.defaultLimit;
    const [held] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(heavySlots)
      .innerJoin(jobs, eq(jobs.id, heavySlots.jobId))
      .where(and(eq(heavySlots.userId, slot.userId), inArray(jobs.state, [...ACTIVE_STATES])));
    const n = held?.n ?? 0;
    if (own) return { acquired: true, held: n, limit };
    if (n >= limit) return { acquired: false, held: n, limit };
    await tx.insert(heavySlots).values({ jobId: slot.jobId, userId: slot.userId, kind: slot.kind });
    return { acquired: true, held: n + 1, limit };
  });
}

export async function releaseHeavySlot(db: Db, jobId: string): Promise<void> {
  await db.delete(heavySlots).where(eq(heavySlots.jobId, jobId));
}
