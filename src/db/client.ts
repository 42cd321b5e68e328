/** Database handles over postgres.js. No module-level singleton: callers create and close their own. */
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import * as schema from './schema.js';

export type Sql = postgres.Sql;
export type Db = ReturnType<typeof createDrizzle>;

function createDrizzle(sql: Sql) {
  return drizzle(sql, { schema, casing: 'snake_case' });
}

export interface Database {
  sql: Sql;
  db: Db;
  /** The most connections the pool opens. */
  poolMax: number;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  max?: number;
  appName?: string;
  /** Server settings of every connection (sent at connect time, e.g. `synchronous_commit`). */
  settings?: Record<string, string>;
  /**
   * `statement_timeout` of every connection, in ms: the server cancels a statement that runs longer
   * (SQLSTATE 57014). The API's pools set it; the workers' do not (their COPY reads run for minutes).
   * Unset or 0: no timeout.
   */
  statementTimeoutMs?: number;
}

export function createDatabase(url: string, opts: DatabaseOptions = {}): Database {
  const poolMax = opts.max ?? 10;
  const timeout = opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {};
  const sql = postgres(url, {
    max: poolMax,
    onnotice: () => {},
    connection: {
      application_name: opts.appName ?? 'offload',
      TimeZone: 'UTC',
      ...timeout,
      ...opts.settings,
    },
  });
  return { sql, db: createDrizzle(sql), poolMax, close: () => sql.end({ timeout: 5 }) };
}

/** One round trip to the server (the readiness check). */
export async function pingDatabase(sql: Sql): Promise<void> {
  await sql`select 1`;
}
