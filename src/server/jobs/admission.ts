/**
 * Admission of new heavy jobs, generic over job kinds: the global queued backlog (503), the owner's
 * active-job cap (429) and the priority the user may use (422). `createJob` runs it for every job,
 * redrives included.
 */
import type { Config } from '../../config/env.js';
import type { TransactionSql } from 'postgres';
import type { Sql } from '../../db/client.js';
import type { JobRow } from '../../db/jobs-repo.js';
import { admitJob, type AdmittedJob, type UserLimits } from '../../db/limits-repo.js';
import { PRIORITY_KEYS } from '../../shared/jobs.js';
import { HttpProblem, problems } from '../http/problem.js';

/** Seconds a client is asked to wait when the heavy backlog is full. */
const BACKLOG_RETRY_AFTER_S = 5;

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
 * Record a new heavy job if the limits allow it, else throw the problem to answer: 503 + Retry-After
 * when the queued backlog of all users is full, 429 with the count when the job's owner has too many
 * jobs queued or running. Runs in the caller's transaction on `sql` (admitJob: its statements are sent
 * before this returns); the job is recorded when that commits.
 */
export async function admitHeavyJob(
  sql: Sql | TransactionSql,
  config: Config,
  limits: UserLimits,
  job: AdmittedJob,
): Promise<JobRow> {
  const outcome = await admitJob(sql, job, {
    maxActiveJobs: limits.maxActiveJobs,
    heavyBacklogMax: config.HEAVY_BACKLOG_MAX,
  });
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
