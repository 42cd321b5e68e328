/**
 * Connections to the databases exports read from (the sources of the datasets file), apart from
 * offload's own state database. Every connection of a source pool starts with
 * `default_transaction_read_only = on` and a `statement_timeout`, so each read is a read-only
 * transaction whether it is a COPY on a reserved lane or a planning query; `readOnly` runs a few
 * statements in one `begin read only` transaction with the job's `application_name`, and `nameSession`
 * gives a reserved connection the job's name until it goes back to the pool. Nothing here writes, so a
 * role with SELECT only, or a hot standby, is enough.
 */
import { createDatabase, type Database, type Sql } from './client.js';

export interface SourcePoolOptions {
  /** Connections per source. */
  max: number;
  /** `application_name` of an idle connection (a job's reads name the job). */
  appName: string;
  /** `statement_timeout` in ms; 0: none. */
  statementTimeoutMs: number;
}

export interface SourcePools {
  /** The pool of a source, opened on first use. Throws for a source without a URL. */
  get(name: string): Database;
  /** The URL of a source (for the PDF render thread's own connection). */
  url(name: string): string;
  readonly options: SourcePoolOptions;
  close(): Promise<void>;
}

/** The connection settings every source connection starts with. */
export function sourceSettings(statementTimeoutMs: number): Record<string, string> {
  return {
    default_transaction_read_only: 'on',
    ...(statementTimeoutMs > 0 ? { statement_timeout: String(statementTimeoutMs) } : {}),
  };
}

export function openSourcePools(urls: Record<string, string>, options: SourcePoolOptions): SourcePools {
  const pools = new Map<string, Database>();
  const url = (name: string): string => {
    const u = Object.hasOwn(urls, name) ? urls[name] : undefined;
    if (!u) throw new Error(`no URL for source ${name}`);
    return u;
  };
  return {
    options,
    url,
    get(name) {
      let pool = pools.get(name);
      if (!pool) {
        pool = createDatabase(url(name), {
          max: options.max,
          appName: options.appName,
          settings: sourceSettings(options.statementTimeoutMs),
        });
        pools.set(name, pool);
      }
      return pool;
    },
    async close() {
      await Promise.allSettled([...pools.values()].map((p) => p.close()));
      pools.clear();
    },
  };
}

/** `application_name` of a job's reads: what `pg_stat_activity` shows on the source. */
export function jobAppName(kind: string, jobId: string): string {
  // PostgreSQL keeps 63 bytes of it; ids are short ASCII.
  return `offload ${kind} ${jobId}`.slice(0, 63);
}

/**
 * `fn` in one read-only transaction named `appName` (both settings local to the transaction). The
 * naming goes out with `fn`'s first statement, in one round trip, and runs before it.
 */
export async function readOnly<T>(sql: Sql, appName: string, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return (await sql.begin('read only', async (tx) => {
    const named = tx`select set_config('application_name', ${appName}, true)`.execute();
    const [, result] = await Promise.all([named, fn(tx as unknown as Sql)]);
    return result;
  })) as T;
}

/** Name a reserved connection's session `appName`; the returned function restores `restore`. */
export async function nameSession(sql: Sql, appName: string, restore: string): Promise<() => Promise<void>> {
  await sql`select set_config('application_name', ${appName}, false)`;
  return async () => {
    await sql`select set_config('application_name', ${restore}, false)`;
  };
}
