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

/**
 * A transaction in one round trip: its begin, the statements `issue` sends, and its commit go out
 * together, so a lock it takes is held only while the server runs them (never across a round trip to
 * this process). `issue` must send every statement before it returns (postgres.js runs them in the order
 * sent; `.execute()` sends a query at once), and decide nothing between them: the commit is already on
 * its way. When a statement fails, the later ones fail with it and the commit rolls back.
 */
export async function inOneTransaction<T>(sql: Sql, issue: (tx: Sql) => Promise<T>): Promise<T> {
  const reserved = await sql.reserve();
  try {
    const begin = reserved`begin`.execute();
    // Called at once (the executor runs now); a throw before it sent anything becomes a rejection, and
    // the commit below still ends the transaction begun above.
    const result = new Promise<T>((resolve) => resolve(issue(reserved)));
    const commit = reserved`commit`.execute();
    const [, value] = await Promise.all([begin, result, commit]);
    return value;
  } finally {
    reserved.release();
  }
}
