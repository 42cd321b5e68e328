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
  close(): Promise<void>;
}

export function createDatabase(
  url: string,
  opts: { max?: number; appName?: string; settings?: Record<string, string> } = {},
): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: opts.appName ?? 'offload', TimeZone: 'UTC', ...opts.settings },
  });
  return { sql, db: createDrizzle(sql), close: () => sql.end({ timeout: 5 }) };
}
