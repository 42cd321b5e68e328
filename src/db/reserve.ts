/**
 * `sql.reserve()` for connections the server may close under us (a PostgreSQL restart, a failover,
 * `pg_terminate_backend`), containing defects of postgres.js 3.4.9 (the latest release) that otherwise
 * kill the process. Once the socket of a reserved connection has closed, postgres.js moves the
 * connection to its pool's closed queue, but the reservation still points at it, and then:
 * - a query on the reservation writes to the closed connection's `null` socket from a `setImmediate`:
 *   an uncaught `TypeError: Cannot read properties of null (reading 'write')` at `nextWrite`
 *   (porsager/postgres#1208);
 * - `release()` puts the closed connection back in the open queue, so the next pooled query does that
 *   instead (porsager/postgres#1199);
 * - and a `reserve()` still waiting for a connection when a busy one closes is never settled
 *   (porsager/postgres#1195).
 * So a reservation here knows when its connection closed: a query then throws `CONNECTION_CLOSED` (as
 * postgres.js does for a query in flight when the socket closes) instead of reaching postgres.js, and
 * `release()` leaves the connection where postgres.js put it (the pool reconnects it when it needs it).
 * A reservation still waiting after `timeoutMs` fails with `RESERVE_TIMEOUT`; one granted after that
 * goes straight back to the pool.
 *
 * Whether the connection closed is read from postgres.js's connection object, the one a query's
 * internal `onexecute` option is given (what `sql.begin` uses to pin its connection): its `reserved`
 * stays the function `reserve()` set until `onclose` or `release()` clears it.
 * test/e2e/closed-connections.test.ts checks all of this against a server, and that the defects are
 * still there (remove this module once a postgres.js release fixes them).
 */
import type postgres from 'postgres';
import type { Sql } from './client.js';

/** Longest wait for a connection of the pool; a reservation normally gets one in milliseconds. */
export const RESERVE_TIMEOUT_MS = 30_000;

export interface ReservedConnection {
  /**
   * Queries on the reserved connection. Once the connection has closed, a query (tagged template or
   * `unsafe`) throws an error with code `CONNECTION_CLOSED`.
   */
  sql: Sql;
  /** Whether the connection is still open and ours. */
  isOpen(): boolean;
  /** Hand the connection back to the pool, if it is still open (a closed one already is). Idempotent. */
  release(): void;
}

/** The part of postgres.js's (internal) connection object read here. */
interface PgConnection {
  reserved: unknown;
}

function connectionError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, errno: code });
}

export async function reserveConnection(
  sql: Sql,
  opts: { timeoutMs?: number } = {},
): Promise<ReservedConnection> {
  const reserved = await reserveWithin(sql, opts.timeoutMs ?? RESERVE_TIMEOUT_MS);
  let connection: PgConnection | undefined;
  let mark: unknown;
  // Open while postgres.js's connection still carries the reservation it had when the probe ran. Without
  // the connection object (a postgres.js that no longer passes it), nothing can be told: taken as open.
  const isOpen = () => connection === undefined || (mark !== undefined && connection.reserved === mark);
  const probe = {
    onexecute: (c: PgConnection) => {
      connection = c;
      mark = c.reserved;
      return true; // what execute() returns without the option: the connection may take more
    },
  };
  try {
    await reserved.unsafe('select 1', [], probe as postgres.UnsafeQueryOptions);
  } catch (err) {
    // Released only if still open: a closed connection is postgres.js's again (see above).
    if (isOpen()) reserved.release();
    throw err;
  }
  let released = false;

  const guard = () => {
    if (released) throw connectionError('CONNECTION_RELEASED', 'query on a released connection');
    if (!isOpen()) throw connectionError('CONNECTION_CLOSED', 'the reserved connection was closed');
  };
  const guarded = new Proxy(reserved, {
    apply(target, thisArg, args) {
      guard();
      return Reflect.apply(target, thisArg, args) as unknown;
    },
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'unsafe' || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        guard();
        return Reflect.apply(value, target, args) as unknown;
      };
    },
  });

  return {
    sql: guarded,
    isOpen: () => !released && isOpen(),
    release() {
      if (released) return;
      released = true;
      if (isOpen()) reserved.release();
    },
  };
}

/** sql.reserve(), failing after `timeoutMs`; a reservation granted later is released at once. */
async function reserveWithin(sql: Sql, timeoutMs: number): Promise<postgres.ReservedSql> {
  const pending = sql.reserve();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          connectionError(
            'RESERVE_TIMEOUT',
            `no database connection could be reserved within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([pending, timeout]);
  } catch (err) {
    pending.then(
      (late) => late.release(),
      () => undefined,
    );
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
