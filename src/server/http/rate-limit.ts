/**
 * The per-user request rate limit at the HTTP edge: a token bucket in PostgreSQL, shared by every API
 * process, with IETF RateLimit headers.
 */
import type { MiddlewareHandler } from 'hono';
import type { Config } from '../../config/env.js';
import type { Db } from '../../db/client.js';
import { takeToken } from '../../db/limits-repo.js';
import type { AppEnv } from './context.js';
import { HttpProblem } from './problem.js';

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
