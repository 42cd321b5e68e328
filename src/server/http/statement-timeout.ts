/**
 * A query the database cancelled (SQLSTATE 57014, query_canceled: `statement_timeout` on the API's
 * pools, API_STATEMENT_TIMEOUT_MS, or an operator's pg_cancel_backend) is not a bug of the request: it
 * answers 503 `database-timeout` with `Retry-After`, never 500. Found anywhere in the error's `cause`
 * chain (drizzle wraps postgres.js errors in DrizzleQueryError).
 */
import { HttpProblem } from './problem.js';

export const QUERY_TIMEOUT_RETRY_AFTER_SECONDS = 5;

const QUERY_CANCELED = '57014';

export function isQueryCanceled(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    if (seen.has(e)) return false;
    seen.add(e);
    const { name, code } = e as { name?: unknown; code?: unknown };
    if (name === 'PostgresError' && code === QUERY_CANCELED) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The 503 problem for a cancelled query, or undefined for any other error. */
export function queryTimeoutProblem(err: unknown): HttpProblem | undefined {
  if (!isQueryCanceled(err)) return undefined;
  const retryAfter = QUERY_TIMEOUT_RETRY_AFTER_SECONDS;
  return new HttpProblem(
    503,
    'database-timeout',
    'Service Unavailable',
    `the database did not answer in time; retry in ${retryAfter} s`,
    { retryAfterSeconds: retryAfter },
    { 'retry-after': String(retryAfter) },
  );
}
