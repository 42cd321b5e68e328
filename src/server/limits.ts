/**
 * Per-user limits at the HTTP edge: the request rate limit (a token bucket in PostgreSQL, shared by every
 * API process) with IETF RateLimit headers, and the admission of new heavy jobs (global backlog → 503,
 * the user's active-job cap → 429, the priority the user may use → 422). Generic over job kinds: every
 * job-creating route calls `admitJob`.
 */
import type { MiddlewareHandler } from 'hono';
import type { Config } from '../config/env.js';
import type { Db } from '../db/client.js';
import type { JobRow, NewJob } from '../db/jobs-repo.js';
import { admitJob, takeToken, userLimits, type UserLimits } from '../db/limits-repo.js';
import type { Principal } from '../db/users-repo.js';
import { PRIORITY_KEYS } from '../shared/jobs.js';
import type { AppEnv } from './env.js';
import { HttpProblem, problems } from './problem.js';

/** Seconds a client is asked to wait when the heavy backlog is full. */
const BACKLOG_RETRY_AFTER_S = 5;
const POLICY = 'per-user';

/**
 * Rate limit for authenticated requests: one token per request from the caller's bucket. Every answer
 * carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers); a refused request
 * gets 429 with `Retry-After`.
 */
export function rateLimit(db: Db, config: Config): MiddlewareHandler<AppEnv> {
  const capacity = config.RATE_LIMIT_BURST;
  const refillPerSec = config.RATE_LIMIT_PER_SEC;
  // The window is the time an empty bucket takes to fill: q requests per w seconds.
  const window = Math.max(1, Math.ceil(capacity / Math.max(refillPerSec, 1e-9)));
  const policy = `"${POLICY}";q=${capacity};w=${window}`;
  return async (c, next) => {
    if (refillPerSec === 0) return next();
    const principal = c.get('principal');
    const take = await takeToken(db, `user:${principal.userId}`, { capacity, refillPerSec });
    const remaining = Math.max(0, Math.floor(take.remaining));
    const untilFull = Math.ceil((capacity - take.remaining) / refillPerSec);
    const headers = {
      'ratelimit-policy': policy,
      ratelimit: `"${POLICY}";r=${remaining};t=${Math.max(0, untilFull)}`,
    };
    if (!take.allowed) {
      const retryAfter = Math.max(1, Math.ceil((1 - take.remaining) / refillPerSec));
      throw new HttpProblem(
        429,
        'rate-limited',
        'Too Many Requests',
        `you may make ${capacity} requests at once and ${refillPerSec} per second after that; retry in ${retryAfter} s`,
        { limit: capacity, refillPerSecond: refillPerSec, retryAfterSeconds: retryAfter },
        { ...headers, 'retry-after': String(retryAfter) },
      );
    }
    await next();
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  };
}

export function defaultLimits(config: Config): UserLimits {
  return {
    maxActiveJobs: config.USER_MAX_ACTIVE_JOBS,
    maxRunningHeavy: config.USER_MAX_RUNNING_HEAVY,
    highestPriority: config.USER_HIGHEST_PRIORITY,
  };
}

/** The priority key a request gets: the asked one if the user may use it, else a 422 naming the field. */
export function resolvePriority(requested: number | undefined, limits: UserLimits): number {
  const wanted = requested ?? PRIORITY_KEYS.default;
  if (wanted < limits.highestPriority) {
    throw problems.validation([
      {
        field: 'priority',
        in: 'body',
        reason: `your key may use priorities ${limits.highestPriority} (highest) to ${PRIORITY_KEYS.lowest}; got ${wanted}`,
      },
    ]);
  }
  return wanted;
}

/**
 * Record a new heavy job for the caller if the limits allow it, else throw the problem to answer:
 * 503 + Retry-After when the queued backlog of all users is full, 429 with the count when the caller
 * has too many jobs queued or running.
 */
export async function admitHeavyJob(
  db: Db,
  config: Config,
  principal: Principal,
  job: Omit<NewJob, 'priority' | 'userId' | 'tenantId'> & { priority?: number },
): Promise<JobRow> {
  const limits = await userLimits(db, principal.userId, defaultLimits(config));
  const priority = resolvePriority(job.priority, limits);
  const outcome = await admitJob(
    db,
    { ...job, priority, userId: principal.userId, tenantId: principal.tenantId },
    { maxActiveJobs: limits.maxActiveJobs, heavyBacklogMax: config.HEAVY_BACKLOG_MAX },
  );
  if (outcome.admitted) return outcome.job;
  if (outcome.reason === 'heavy-backlog') {
    throw new HttpProblem(
      503,
      'overloaded',
      'Service Unavailable',
      `${outcome.backlog} heavy jobs are waiting (limit ${outcome.limit}); submit again in ${BACKLOG_RETRY_AFTER_S} s`,
      { backlog: outcome.backlog, limit: outcome.limit, retryAfterSeconds: BACKLOG_RETRY_AFTER_S },
      { 'retry-after': String(BACKLOG_RETRY_AFTER_S) },
    );
  }
  throw new HttpProblem(
    429,
    'too-many-active-jobs',
    'Too Many Active Jobs',
    `you have ${outcome.active} jobs queued or running and may have ${outcome.limit}; wait for one to finish`,
    { active: outcome.active, limit: outcome.limit },
  );
}
