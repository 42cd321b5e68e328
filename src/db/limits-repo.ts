/**
 * Shared limits kept in PostgreSQL, so every API and worker process sees the same numbers: per-user
 * request token buckets, admission of new jobs (per-user active cap, global heavy backlog) and the
 * per-user slots of heavy activities.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { JobKind } from '../shared/jobs.js';
import type { Db } from './client.js';
import { insertJobIn, txSql, type JobRow, type NewJob, type Tx } from './jobs-repo.js';
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

/**
 * Record a new job if the global heavy backlog and the user's active-job cap allow it, inside the
 * caller's transaction: a per-user advisory lock (held until that transaction ends) keeps concurrent
 * submissions of one user from overshooting. The counts are the ones triggers keep (`job_backlog`,
 * `user_active_jobs`): 17 rows read however many jobs wait or run.
 */
export async function admitJob(
  tx: Tx,
  job: NewJob,
  limits: { maxActiveJobs: number; heavyBacklogMax: number },
): Promise<Admission> {
  // The lock and the counts in one round trip: the server runs them in order, so the counts' snapshot
  // is taken once the lock is held (and sees the jobs of this user that committed before it).
  const client = txSql(tx);
  const [, [counts]] = await Promise.all([
    client`select pg_advisory_xact_lock(hashtextextended(${`active:${job.userId}`}, 0))`,
    client<{ backlog: number; active: number }[]>`
      select
        (select coalesce(sum(queued), 0)::int from job_backlog) as backlog,
        coalesce((select active from user_active_jobs where user_id = ${job.userId}), 0) as active`,
  ]);
  const backlog = counts?.backlog ?? 0;
  const active = counts?.active ?? 0;
  if (backlog >= limits.heavyBacklogMax) {
    return { admitted: false, reason: 'heavy-backlog', backlog, limit: limits.heavyBacklogMax };
  }
  if (active >= limits.maxActiveJobs) {
    return { admitted: false, reason: 'user-active-cap', active, limit: limits.maxActiveJobs };
  }
  return { admitted: true, job: await insertJobIn(tx, job) };
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
