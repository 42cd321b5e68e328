/**
 * Connections the server closes (here with pg_terminate_backend on this file's own backends; the
 * shared database is not restarted), as a PostgreSQL restart closes every one of them.
 * - postgres.js 3.4.9 as patches/apply.mjs leaves it at install: what killed a process with an uncaught
 *   TypeError at `nextWrite` fails the queries with CONNECTION_CLOSED instead, and the process lives on
 *   (a script in a fresh child process each; without the patch each of them crashes).
 * - reserveConnection (src/db/reserve.ts), which the export read lanes use: the process survives, a
 *   query on the closed reservation fails like any lost connection, and the pool goes on working.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import { reserveConnection } from '../../src/db/reserve.js';
import { eventually } from '../helpers/stack.js';

let url: string;
let killer: Sql;
const pools: Sql[] = [];

function pool(max: number): Sql {
  const sql = postgres(url, { max, onnotice: () => {} });
  pools.push(sql);
  return sql;
}

/** Terminate a backend from another connection and wait until it is gone. */
async function terminate(pid: number): Promise<void> {
  await killer`select pg_terminate_backend(${pid})`;
  for (;;) {
    const rows = await killer`select 1 from pg_stat_activity where pid = ${pid}`;
    if (rows.length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function backendPid(sql: Sql): Promise<number> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  return row!.pid;
}

/** Until postgres.js in this process has seen the socket of `lane` close. */
async function closedSeen(lane: { isOpen(): boolean }): Promise<void> {
  await eventually(() => Promise.resolve(lane.isOpen() ? undefined : true), 30_000, 10);
}

beforeAll(() => {
  url = inject('databaseUrl');
  killer = pool(1);
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end({ timeout: 1 })));
});

/** Runs `body` (an ES module) in a fresh Node in the repository, with DATABASE_URL; its exit code and output. */
async function runNode(body: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', body], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { PATH: process.env.PATH, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

describe('postgres.js 3.4.9, as patched at install, with a connection the server closed', () => {
  // The end of each script: the pool goes on (a query that met the closed connection fails, the next
  // one is answered), and the process is still alive to say so.
  const poolGoesOn = `
    const pooled = () =>
      Promise.race([
        sql\`select 1\`.then(() => 'answered', (e) => e.code),
        new Promise((r) => setTimeout(() => r('no answer'), 5000)),
      ]);
    const first = await pooled();
    console.log('pool', first, first === 'answered' ? first : await pooled());
    console.log('survived');
    process.exit(0);
  `;
  const reserved = (afterClose: string) => `
    const { default: postgres } = await import('postgres');
    let closed;
    const seen = new Promise((r) => (closed = r));
    const sql = postgres(process.env.DATABASE_URL, { max: 2, onnotice: () => {}, onclose: closed });
    const killer = postgres(process.env.DATABASE_URL, { max: 1 });
    const reserved = await sql.reserve();
    const [{ pid }] = await reserved\`select pg_backend_pid() as pid\`;
    await killer\`select pg_terminate_backend(\${pid})\`;
    await seen;
    ${afterClose}
    ${poolGoesOn}
  `;
  // The server terminates the backend while a query of the transaction runs on it; the transaction
  // fails with CONNECTION_CLOSED, and postgres.js then sends its ROLLBACK on the closed connection.
  const transaction = `
    const { default: postgres } = await import('postgres');
    const sql = postgres(process.env.DATABASE_URL, { max: 2, onnotice: () => {} });
    const killer = postgres(process.env.DATABASE_URL, { max: 1 });
    const outcome = await sql.begin(async (tx) => {
      const [{ pid }] = await tx\`select pg_backend_pid() as pid\`;
      const sleeping = tx\`select pg_sleep(30)\`.execute();
      for (;;) {
        const rows = await killer\`select pg_terminate_backend(pid) from pg_stat_activity
          where pid = \${pid} and state = 'active' and query like '%pg_sleep%'\`;
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await sleeping;
    }).then(() => 'committed', (e) => e.code);
    console.log('transaction', outcome);
    ${poolGoesOn}
  `;

  it.each([
    [
      'a query on a reservation (porsager/postgres#1208)',
      reserved('console.log("query", await reserved`select 1`.then(() => "answered", (e) => e.code));'),
      'query CONNECTION_CLOSED',
    ],
    [
      'a pooled query after release() of a reservation (porsager/postgres#1199)',
      reserved('reserved.release();'),
      'pool',
    ],
    ['a transaction with a query in flight (its rollback)', transaction, 'transaction CONNECTION_CLOSED'],
  ])('no longer crashes the process (patches/apply.mjs): %s', async (_what, script, outcome) => {
    const { code, output } = await runNode(script);
    expect(output).not.toMatch(/TypeError/);
    expect(output).toContain(outcome);
    expect(output).toMatch(/pool (answered|CONNECTION_CLOSED) answered/);
    expect(output).toContain('survived');
    expect(code).toBe(0);
  });
});

describe('reserveConnection', () => {
  it('queries on its connection and hands it back to the pool', async () => {
    const sql = pool(1);
    const lane = await reserveConnection(sql);
    const pid = await backendPid(lane.sql);
    expect(await lane.sql.unsafe('select 2 as n')).toEqual([{ n: 2 }]);
    expect(lane.isOpen()).toBe(true);
    lane.release();
    lane.release(); // idempotent
    expect(lane.isOpen()).toBe(false);
    expect(() => lane.sql`select 1`).toThrow(expect.objectContaining({ code: 'CONNECTION_RELEASED' }));
    // The pool's only connection is the one it had.
    expect(await backendPid(sql)).toBe(pid);
  });

  it('fails a query once the server closed the idle connection, and the pool goes on', async () => {
    const sql = pool(2);
    const lane = await reserveConnection(sql);
    await terminate(await backendPid(lane.sql));
    await closedSeen(lane);
    const err = (() => {
      try {
        void lane.sql.unsafe('select 1');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect(() => lane.sql`select 1`).toThrow(expect.objectContaining({ code: 'CONNECTION_CLOSED' }));
    lane.release();
    // Both connections of the pool answer (the closed one reconnected), and a new reservation works.
    const rows = await Promise.all([1, 2, 3].map((n) => sql<{ n: number }[]>`select ${n}::int as n`));
    expect(rows.map((r) => r[0]!.n)).toEqual([1, 2, 3]);
    const again = await reserveConnection(sql);
    expect(await again.sql`select 4 as n`).toEqual([{ n: 4 }]);
    again.release();
  });

  it('lets a query in flight fail when the server closes the connection, and the pool goes on', async () => {
    const sql = pool(1);
    const lane = await reserveConnection(sql);
    const pid = await backendPid(lane.sql);
    const sleeping = lane.sql`select pg_sleep(30)`.then(
      () => undefined,
      (e: unknown) => e,
    );
    await terminate(pid);
    // The server's FATAL admin_shutdown, or the socket's close when that came first.
    expect(((await sleeping) as { code?: string }).code).toMatch(/^(57P01|CONNECTION_CLOSED|ECONNRESET)$/);
    await closedSeen(lane);
    lane.release();
    // The first query on the reconnected connection may fail with the old backend's FATAL error:
    // postgres.js keeps it for a ReadyForQuery that never came and replays it on the next connection
    // (the mechanism of porsager/postgres#1223). A query failing like that is retried; then it answers.
    const first = await sql`select 5 as n`.then(
      (rows) => rows,
      (e: unknown) => e,
    );
    if (first instanceof Error) expect(first).toMatchObject({ code: '57P01' });
    expect(await sql`select 5 as n`).toEqual([{ n: 5 }]);
    expect(await backendPid(sql)).not.toBe(pid);
  });

  it('fails when no connection comes within its timeout, and gives a late one back', async () => {
    const sql = pool(1);
    const holder = await reserveConnection(sql);
    const waited = await reserveConnection(sql, { timeoutMs: 200 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(waited).toMatchObject({ code: 'RESERVE_TIMEOUT' });
    holder.release();
    // The late reservation went straight back: the pool's one connection answers.
    expect(await sql`select 6 as n`).toEqual([{ n: 6 }]);
  });
});
