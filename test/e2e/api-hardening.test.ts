/**
 * The API as src/server/index.ts builds it, on a database of its own (so the locks taken here stall no
 * other test): both of its pools carry `statement_timeout = API_STATEMENT_TIMEOUT_MS` (a worker's pool
 * does not), and a query past it answers 503 problem+json with Retry-After, never 500, through drizzle
 * and through plain postgres.js alike; the Idempotency-Key claim commits with its job or not at all, so
 * a request that fails between the claim and the job leaves no claim behind to answer 409 for a day
 * (and the hourly purge of expired claims runs in short batches, each well within the timeout); and
 * with METRICS_TOKEN set, /metrics needs it as a bearer token. Requests Node's parser refuses (a head
 * over 16 KiB, a malformed request line) get problem+json too.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/env.js';
import { createDatabase, type Sql } from '../../src/db/client.js';
import { purgeExpiredIdempotencyKeys } from '../../src/db/idempotency-repo.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createApiKey, ensureUser } from '../../src/db/users-repo.js';
import { createLogger } from '../../src/lib/logger.js';
import { createApp, type App } from '../../src/server/app.js';
import { createApiDatabases, type ApiDatabases } from '../../src/server/databases.js';
import { createStorage } from '../../src/storage/index.js';
import { connectTemporal, type TemporalHandle } from '../../src/temporal/client.js';
import { terminateOpenWorkflows } from '../helpers/stack.js';

const STATEMENT_TIMEOUT_MS = 1000;
const METRICS_TOKEN = `metrics-${randomUUID()}`;

let admin: Sql;
let dbName: string;
let url: string;
let config: Config;
let pools: ApiDatabases;
let temporal: TemporalHandle;
let app: App;
let server: ServerType;
let baseUrl: string;
let sql: Sql;
let storageDir: string;

beforeAll(async () => {
  const base = new URL(inject('databaseUrl'));
  const adminUrl = new URL(base);
  adminUrl.pathname = '/postgres';
  admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  dbName = `offload_hardening_${randomUUID().slice(0, 8)}`;
  await admin.unsafe(`create database ${dbName}`);
  const own = new URL(base);
  own.pathname = `/${dbName}`;
  url = own.toString();
  await migrateDatabase(url);

  storageDir = path.join(inject('scratchDir'), `storage-${randomUUID()}`);
  await fs.mkdir(storageDir, { recursive: true });
  config = loadConfig({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    PORT: '0',
    DATABASE_URL: url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    STORAGE_DIR: storageDir,
    TASK_QUEUE_PREFIX: `h${randomUUID().slice(0, 8)}-`,
    API_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    METRICS_TOKEN,
    RATE_LIMIT_PER_SEC: '1000',
    RATE_LIMIT_BURST: '1000',
  });
  pools = createApiDatabases(config, { max: 3, rateLimitMax: 2 });
  temporal = await connectTemporal(config.temporal);
  app = createApp({
    config,
    ...pools,
    temporal: temporal.client,
    storage: createStorage(config),
    log: createLogger({ level: config.LOG_LEVEL, name: 'offload-test' }),
  });
  server = await new Promise((resolve) => {
    const s = serve({ fetch: app.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  app.attachServer(server as Server);
  // The test's own connection: no statement_timeout, as it holds locks on purpose.
  sql = postgres(url, { max: 2, onnotice: () => {} });
});

afterAll(async () => {
  if (temporal) await terminateOpenWorkflows(temporal.client, config.TASK_QUEUE_PREFIX);
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await temporal?.close();
  await pools?.database.close();
  await pools?.rateLimitDatabase.close();
  await sql?.end();
  if (admin) {
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
  if (storageDir) await fs.rm(storageDir, { recursive: true, force: true });
});

async function newUser() {
  const user = await ensureUser(pools.database.db, `user-${randomUUID().slice(0, 8)}`, 't-hardening');
  const { key } = await createApiKey(pools.database.db, user.id);
  return { userId: user.id, key };
}

function submit(key: string, idempotencyKey: string) {
  return fetch(`${baseUrl}/v1/exports`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'idempotency-key': idempotencyKey,
    },
    body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
  });
}

/** Run `during` while another transaction holds `lock` (a statement taking it), then let go. */
async function whileLocked<T>(
  lock: (tx: postgres.TransactionSql) => Promise<unknown>,
  during: () => Promise<T>,
) {
  let result: T | undefined;
  await sql.begin(async (tx) => {
    await lock(tx);
    result = await during();
  });
  return result as T;
}

async function expectTimeoutProblem(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  const body = (await res.json()) as { type: string; status: number };
  expect(body).toMatchObject({ type: '/problems/database-timeout', status: 503 });
}

describe('statement_timeout of the API', () => {
  it("is set on both API pools' connections, not on a worker's", async () => {
    const expected = `${STATEMENT_TIMEOUT_MS / 1000}s`;
    // Several at once, so more than one connection of each pool answers.
    const shown = await Promise.all([
      ...[0, 1, 2].map(() => pools.database.sql<{ statement_timeout: string }[]>`show statement_timeout`),
      ...[0, 1].map(
        () => pools.rateLimitDatabase.sql<{ statement_timeout: string }[]>`show statement_timeout`,
      ),
    ]);
    expect(shown.map((rows) => rows[0]!.statement_timeout)).toEqual(Array(5).fill(expected));
    // The rate-limit pool keeps its own setting next to it.
    const [sync] = await pools.rateLimitDatabase.sql<
      { synchronous_commit: string }[]
    >`show synchronous_commit`;
    expect(sync!.synchronous_commit).toBe('off');

    // A worker opens its pool without one (its COPY reads run for minutes).
    const worker = createDatabase(url, { max: 1, appName: 'offload-worker' });
    try {
      const [row] = await worker.sql<{ statement_timeout: string }[]>`show statement_timeout`;
      expect(row!.statement_timeout).toBe('0');
    } finally {
      await worker.close();
    }
  });

  it('answers 503 problem+json with Retry-After for a query past it, never 500', async () => {
    const { userId, key } = await newUser();
    // Admission takes the user's advisory lock; held elsewhere, the insert waits past the timeout.
    const res = await whileLocked(
      (tx) => tx`select pg_advisory_xact_lock(hashtextextended(${`active:${userId}`}, 0))`,
      () => submit(key, 'slow-1'),
    );
    await expectTimeoutProblem(res);

    // A plain postgres.js query (the /metrics scrape) times out the same way.
    const scrape = await whileLocked(
      (tx) => tx`lock table job_stats in access exclusive mode`,
      () => fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }),
    );
    await expectTimeoutProblem(scrape);

    // The API is fine once the lock is gone.
    const after = await fetch(`${baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(after.status).toBe(200);
  });
});

describe('Idempotency-Key claim and job', () => {
  it('commit together: a request that fails after the claim leaves no claim, and the key works again', async () => {
    const { userId, key } = await newUser();
    const idem = `order-export-${randomUUID()}`;
    // The claim is written, then the job insert waits for the lock and is cancelled.
    const failed = await whileLocked(
      (tx) => tx`select pg_advisory_xact_lock(hashtextextended(${`active:${userId}`}, 0))`,
      () => submit(key, idem),
    );
    await expectTimeoutProblem(failed);
    const claims = await sql<{ n: number }[]>`
      select count(*)::int as n from idempotency_keys where user_id = ${userId} and key = ${idem}`;
    expect(claims[0]!.n).toBe(0);
    const jobs = await sql<{ n: number }[]>`select count(*)::int as n from jobs where user_id = ${userId}`;
    expect(jobs[0]!.n).toBe(0);

    // The retry creates the job (not 409 "in progress"), and a replay finds it.
    const created = await submit(key, idem);
    expect(created.status).toBe(202);
    const job = (await created.json()) as { id: string };
    const replayed = await submit(key, idem);
    expect(replayed.status).toBe(200);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replayed.json()) as { id: string }).id).toBe(job.id);
    const [claim] = await sql<{ jobId: string }[]>`
      select job_id as "jobId" from idempotency_keys where user_id = ${userId} and key = ${idem}`;
    expect(claim!.jobId).toBe(job.id);
  });
});

describe('the purge of expired Idempotency-Key claims', () => {
  it('deletes every expired claim, batch by batch, and no live one', async () => {
    const { userId } = await newUser();
    await sql`insert into idempotency_keys (user_id, scope, key, request_hash, job_id, expires_at)
              select ${userId}, 'exports.create', 'expired-' || g, 'h', 'job-' || g, now() - interval '1 minute'
              from generate_series(1, 23) g`;
    await sql`insert into idempotency_keys (user_id, scope, key, request_hash, job_id, expires_at)
              values (${userId}, 'exports.create', 'live', 'h', 'job-live', now() + interval '1 hour')`;
    expect(await purgeExpiredIdempotencyKeys(pools.database.db, 5)).toBe(23);
    const left = await sql<{ key: string }[]>`select key from idempotency_keys where user_id = ${userId}`;
    expect(left.map((r) => r.key)).toEqual(['live']);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  it('needs the token as a bearer token: 401 problem+json without it or with another', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token-of-some-length', `Basic ${METRICS_TOKEN}`]) {
      const res = await fetch(`${baseUrl}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = (await res.json()) as { type: string };
      expect(body.type).toBe('/problems/unauthorized');
      expect(JSON.stringify(body)).not.toContain(METRICS_TOKEN);
    }
    const res = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^# TYPE offload_jobs_submitted_total counter$/m);
    // Only /metrics: the health checks stay open.
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });
});

/** Writes raw bytes to the API and reads its whole answer (the server closes the connection after it). */
function rawRequest(bytes: string): Promise<string> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(bytes));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

function parseAnswer(raw: string) {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: JSON.parse(body) as { status: number; type: string },
  };
}

describe("requests Node's HTTP parser refuses", () => {
  it('answer 431 problem+json for a head over 16 KiB', async () => {
    const answer = parseAnswer(
      await rawRequest(`GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`),
    );
    expect(answer.status).toBe(431);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ status: 431, type: '/problems/headers-too-large' });
  });

  it('answer 400 problem+json for a malformed request line or header', async () => {
    for (const bytes of [
      'GET /v1/me HTTP/9\r\n\r\n',
      'GET /v1/me HTTP/1.1\r\nBad Header\r\n\r\n',
      '\u0000\u0001\r\n\r\n',
    ]) {
      const answer = parseAnswer(await rawRequest(bytes));
      expect(answer.status, JSON.stringify(bytes)).toBe(400);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      expect(answer.body).toMatchObject({ status: 400, type: '/problems/malformed-request' });
    }
  });

  it('leave the server answering normal requests', async () => {
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });
});
