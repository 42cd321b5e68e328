/**
 * A request that fails because PostgreSQL or Temporal cannot be reached (down, restarting, shutting
 * down, refusing connections) is not a bug of ours: it answers 503 `dependency-unavailable` with
 * `Retry-After`, never 500. Which errors those are is src/lib/dependency-errors.ts's call; anything
 * else is left to the caller (a 500).
 */
import { unreachableDependency, type Dependency } from '../../lib/dependency-errors.js';
import { HttpProblem } from './problem.js';

/** Seconds a client is told to wait before retrying; a restart of either service takes about that. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 5;

const NAMES: Record<Dependency, string> = {
  database: 'the database',
  temporal: 'the workflow service',
  service: 'a service this request needs',
};

/**
 * The 503 problem for an error from an unreachable dependency, with which one and the driver's own
 * message for the log (not the wrapping query error's, which carries the SQL and its parameters), or
 * undefined for any other error.
 */
export function dependencyUnavailable(
  err: unknown,
): { dependency: Dependency; reason: string; problem: HttpProblem } | undefined {
  const found = unreachableDependency(err);
  if (!found) return undefined;
  const { dependency, error } = found;
  const retryAfter = DEPENDENCY_RETRY_AFTER_SECONDS;
  const problem = new HttpProblem(
    503,
    'dependency-unavailable',
    'Service Unavailable',
    `${NAMES[dependency]} is not reachable right now; retry in ${retryAfter} s`,
    { retryAfterSeconds: retryAfter },
    { 'retry-after': String(retryAfter) },
  );
  const code = (error as { code?: unknown }).code;
  return { dependency, reason: `${String(code)}: ${error.message}`, problem };
}
