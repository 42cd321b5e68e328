/**
 * The API process's two PostgreSQL pools, as `src/server/index.ts` opens them: the main pool, and the
 * request-rate buckets' pool with `synchronous_commit = off` (see `AppDeps.rateLimitDatabase`). Both
 * carry `statement_timeout = API_STATEMENT_TIMEOUT_MS`, so no request holds a connection for longer;
 * a statement past it answers 503 with `Retry-After` (`http/statement-timeout.ts`). The workers open
 * their own pool without it.
 */
import type { Config } from '../config/env.js';
import { createDatabase, type Database } from '../db/client.js';

export interface ApiDatabases {
  database: Database;
  rateLimitDatabase: Database;
}

export function createApiDatabases(
  config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_MAX' | 'API_STATEMENT_TIMEOUT_MS'>,
  opts: { max?: number; rateLimitMax?: number } = {},
): ApiDatabases {
  const url = config.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL: required by the API');
  const statementTimeoutMs = config.API_STATEMENT_TIMEOUT_MS;
  const database = createDatabase(url, {
    max: opts.max ?? config.DATABASE_POOL_MAX,
    appName: 'offload-api',
    statementTimeoutMs,
  });
  const rateLimitDatabase = createDatabase(url, {
    max: opts.rateLimitMax ?? Math.max(2, Math.ceil(config.DATABASE_POOL_MAX / 2)),
    appName: 'offload-api-limits',
    settings: { synchronous_commit: 'off' },
    statementTimeoutMs,
  });
  return { database, rateLimitDatabase };
}
