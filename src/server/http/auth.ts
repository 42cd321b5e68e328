/** Bearer API-key authentication for /v1: sets the caller's principal or answers 401. */
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../../db/client.js';
import { authenticate } from '../../db/users-repo.js';
import type { AppEnv } from './context.js';
import { problems } from './problem.js';

export function bearerAuth(db: Db): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) throw problems.unauthorized('send your API key as "Authorization: Bearer <key>"');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw problems.unauthorized('the Authorization header must be "Bearer <key>"');
    const principal = await authenticate(db, m[1]!);
    if (!principal) throw problems.unauthorized('the API key is not valid or has been revoked');
    c.set('principal', principal);
    await next();
  };
}
