/**
 * Restarts lose nothing. This file runs its own Temporal dev server (state in a SQLite file) and its
 * own embedded PostgreSQL, on free ports, because it kills them:
 * - the Temporal server is SIGKILLed mid-export and started again on the same port and file;
 * - PostgreSQL is stopped (a fast shutdown) mid-export and started again on the same data dir and port;
 * - export workers are SIGKILLed one after another while exports run.
 * Every job then ends `succeeded` with the bytes and sha256 of an uninterrupted run of the same request
 * (the first test; its CSV also equals one COPY of the tenant), one job row per submission, one workflow
 * per job, one result file; the export workers live through both restarts; while a dependency is down
 * the API answers 503 problem+json with Retry-After where a request needs it, never a 500.
 * Waits are on behaviour (states, progress, processes), with generous deadlines for a loaded machine.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { count, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listAttempts } from '../../src/db/jobs-repo.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { jobs } from '../../src/db/schema.js';
import { unreachableDependency } from '../../src/lib/dependency-errors.js';
import { freePort } from '../../tools/ports.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../tools/postgres.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../tools/temporal.js';
import { seedTenant, tenantCsvViaCopy } from '../helpers/data.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const ROWS = 8_000;
const PART_ROWS = 1_000;
// At least 5 s per uninterrupted export: long enough to be interrupted between its first checkpoint and
// its publish, even when its sibling started a few seconds later on a loaded machine.
const ROWS_PER_SEC = 1_600;
// Two formats read in parallel lanes, one whose parts carry render state (xlsx: one lane, the zip
// state in the checkpoint). PDF is left out: a resumed PDF is not byte-identical (see export-dataset.ts).
const FORMATS = ['csv', 'ndjson', 'xlsx'] as const;
type Format = (typeof FORMATS)[number];
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'expired'];

interface JobBody {
  id: string;
  state: string;
  progress: { done: number; total: number; attempt: number };
  result: { rows: number; sha256: string; bytes: number; fileName: string } | null;
  error: unknown;
}

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
}

/** Generous: a PostgreSQL or Temporal start, retries with backoff, on a machine shared with other runs. */
const WAIT_MS = 180_000;
const TEST_TIMEOUT_MS = 300_000;

let scratch: string;
let pgDir: string;
let pgPort: number;
let pg: EmbeddedPostgres | undefined;
let temporalDb: string;
let temporalPort: number;
let temporal: TemporalDevServer | undefined;
let stack: Stack | undefined;
let exportWorkers: WorkerProcess[] = [];
/** The `jobs` worker (workflows, record-keeping), a process of this file's too, so its death is seen. */
let jobsWorker: WorkerProcess | undefined;
let tenant: string;
/** The file of each request as an uninterrupted run writes it. */
const baseline = new Map<Format, { sha256: string; bytes: number }>();

const startPostgres = () => startEmbeddedPostgres({ dataDir: pgDir, port: pgPort });
const startTemporal = () =>
  startTemporalDevServer({ port: temporalPort, dbFilename: temporalDb, uiPort: false });

beforeAll(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-restarts-'));
  // Embedded PostgreSQL runs as the OS user `postgres` when we are root: it must reach its data dir.
  await fs.chmod(scratch, 0o755);
  pgDir = path.join(scratch, 'pg');
  temporalDb = path.join(scratch, 'temporal.db');
  [pgPort, temporalPort] = await Promise.all([freePort(), freePort()]);
  [pg, temporal] = await Promise.all([startPostgres(), startTemporal()]);
  await migrateDatabase(pg.url);

  stack = await startStack({
    queues: [],
    services: { databaseUrl: pg.url, temporalAddress: temporal.address },
    env: {
      EXPORT_PART_ROWS: String(PART_ROWS),
      EXPORT_MAX_ROWS_PER_SEC: String(ROWS_PER_SEC),
      // Room for every interruption below (a retry every 0.5 to 2 s): the default 5 attempts are a
      // production budget, not what a test that kills things on purpose measures.
      EXPORT_MAX_ATTEMPTS: '30',
      USER_MAX_RUNNING_HEAVY: String(FORMATS.length + 1),
      // The jobs worker's outbox relay retries a start that failed while Temporal was down this often.
      OUTBOX_SWEEP_INTERVAL_MS: '500',
    },
  });
  tenant = await seedTenant(stack.database.sql, ROWS);
  [jobsWorker, ...exportWorkers] = await Promise.all([
    startWorkerProcess(['jobs'], stack.childEnv),
    startWorkerProcess(['exports'], stack.childEnv),
    startWorkerProcess(['exports'], stack.childEnv),
  ]);
});

afterAll(async () => {
  const errors: unknown[] = [];
  const step = async (what: () => Promise<unknown> | undefined) => {
    try {
      await what();
    } catch (err) {
      errors.push(err);
    }
  };
  const workers = jobsWorker ? [jobsWorker, ...exportWorkers] : exportWorkers;
  await step(() => Promise.all(workers.map((w) => w.kill())));
  // A test that failed mid-outage leaves a service down; the stack's own stop needs both.
  if (stack) {
    await step(async () => {
      if (!temporal) temporal = await startTemporal();
    });
    await step(async () => {
      if (!pg) pg = await startPostgres();
    });
    await step(() => stack!.stop());
  }
  await step(() => temporal?.stop());
  await step(() => pg?.stop());
  if (scratch) await step(() => fs.rm(scratch, { recursive: true, force: true }));
  if (errors.length > 0) throw new AggregateError(errors, 'restarts: cleanup failed');
});

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

type Call = ReturnType<typeof api>;

async function newClient(): Promise<{ userId: string; call: Call }> {
  const { userId, key } = await stack!.newUser(tenant);
  return { userId, call: api(stack!, key) };
}

async function submit(call: Call, format: Format, idempotencyKey?: string): Promise<Response> {
  return call('/v1/exports', {
    method: 'POST',
    headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
    body: JSON.stringify({ dataset: 'orders', format }),
  });
}

async function submitted(call: Call, format: Format): Promise<string> {
  const res = await submit(call, format);
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as JobBody).id;
}

async function job(call: Call, id: string): Promise<JobBody> {
  const res = await call(`/v1/jobs/${id}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as JobBody;
}

/**
 * GET `path` as a client that honours Retry-After: a 503 dependency-unavailable (checked) is "not yet",
 * undefined; a 200 is the answer; anything else (a 500) fails. Right after PostgreSQL is back, the first
 * query on a connection that had one in flight at the shutdown can still fail (postgres.js replays the
 * old backend's FATAL error there, see src/db/reserve.ts): that is a 503 too.
 */
async function getWhenAvailable(call: Call, path: string): Promise<Response | undefined> {
  const res = await call(path);
  if (res.status === 503) {
    await expectDependencyUnavailable(res);
    return undefined;
  }
  expect(res.status, await res.clone().text()).toBe(200);
  return res;
}

async function jobWhenAvailable(call: Call, id: string): Promise<JobBody | undefined> {
  const res = await getWhenAvailable(call, `/v1/jobs/${id}`);
  return res && ((await res.json()) as JobBody);
}

/**
 * A read of this file's own, straight from PostgreSQL, retried while it fails for the database being
 * unreachable (as the API's 503s; after the restart, postgres.js's replayed error, see above).
 */
async function fromDatabase<T>(read: () => Promise<T>): Promise<T> {
  return eventually(
    async () => {
      try {
        return { value: await read() };
      } catch (err) {
        if (unreachableDependency(err)?.dependency === 'database') return undefined;
        throw err;
      }
    },
    WAIT_MS,
    250,
  ).then((r) => r.value);
}

/** The row's state, straight from PostgreSQL: the truth when the API's view could be a cached query. */
async function rowState(id: string): Promise<string | undefined> {
  const [row] = await fromDatabase(() =>
    stack!.database.db.select({ state: jobs.state }).from(jobs).where(eq(jobs.id, id)),
  );
  return row?.state;
}

function attemptsOf(id: string) {
  return fromDatabase(() => listAttempts(stack!.database.db, id));
}

/**
 * Wait until every job is running past its first checkpoint (so a retry resumes from one) and none has
 * finished yet.
 */
async function allMidExport(call: Call, ids: string[]): Promise<void> {
  await eventually(
    async () => {
      const bodies = await Promise.all(ids.map((id) => job(call, id)));
      for (const b of bodies)
        expect(TERMINAL, `job ${b.id} ended before the interruption`).not.toContain(b.state);
      return bodies.every((b) => b.state === 'running' && b.progress.done >= PART_ROWS) ? true : undefined;
    },
    WAIT_MS,
    50,
  );
}

function isAlive(w: WorkerProcess | undefined): boolean {
  return w !== undefined && w.child.exitCode === null && w.child.signalCode === null;
}

/**
 * Fails at once when a worker has exited by itself: nothing here restarts a crashed worker, so its jobs
 * would only wait for the heartbeat timeout and then for a worker that never comes.
 */
function expectWorkersAlive(): void {
  for (const w of [jobsWorker!, ...exportWorkers]) {
    if (isAlive(w)) continue;
    throw new Error(
      `worker ${w.pid} exited (${w.child.exitCode ?? w.child.signalCode}); its log: ${w.logFile}\n` +
        w.output().slice(-2000),
    );
  }
}

async function waitEnded(call: Call, ids: string[]): Promise<JobBody[]> {
  return Promise.all(
    ids.map((id) =>
      eventually(
        async () => {
          expectWorkersAlive();
          const b = await jobWhenAvailable(call, id);
          return b && TERMINAL.includes(b.state) ? b : undefined;
        },
        WAIT_MS,
        250,
      ),
    ),
  );
}

/** The 503 problem every request answers whose dependency is down. */
async function expectDependencyUnavailable(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(503);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  const problem = JSON.parse(text) as Problem;
  expect(problem).toMatchObject({ type: '/problems/dependency-unavailable', status: 503 });
}

/** GET /readyz: its status and whether each dependency answered. */
async function readiness(): Promise<{ status: number } & Record<string, boolean | number>> {
  const res = await fetch(`${stack!.baseUrl}/readyz`);
  const { checks } = (await res.json()) as { checks: { name: string; ok: boolean }[] };
  return { status: res.status, ...Object.fromEntries(checks.map((c) => [c.name, c.ok])) };
}

/**
 * Every job of `userId` succeeded with the baseline's file, and nothing is there twice: one job row per
 * submission, one workflow execution per job, one file under the job's result key, no parts left.
 */
async function expectAllCorrect(
  userId: string,
  call: Call,
  submissions: { id: string; format: Format }[],
): Promise<void> {
  const ids = submissions.map((s) => s.id);
  const ended = await waitEnded(call, ids);
  for (const [i, b] of ended.entries()) {
    const { format } = submissions[i]!;
    expect(b.state, `job ${b.id} (${format}): ${JSON.stringify(b.error)}`).toBe('succeeded');
    expect(b.result?.rows).toBe(ROWS);
    expect(b.result?.sha256).toBe(baseline.get(format)!.sha256);
    expect(b.result?.bytes).toBe(baseline.get(format)!.bytes);
    const res = await eventually(() => getWhenAvailable(call, `/v1/jobs/${b.id}/download`), WAIT_MS, 250);
    const download = Buffer.from(await res.arrayBuffer());
    expect(download.length).toBe(baseline.get(format)!.bytes);
    expect(sha256(download)).toBe(baseline.get(format)!.sha256);
    expect(await fs.readdir(path.join(stack!.storageDir, 'objects', b.id))).toEqual([b.result!.fileName]);
  }

  const { db } = stack!.database;
  const [rows] = await fromDatabase(() =>
    db.select({ n: count() }).from(jobs).where(eq(jobs.userId, userId)),
  );
  expect(rows?.n).toBe(submissions.length);
  const recorded = await fromDatabase(() =>
    db.select({ state: jobs.state, workflowId: jobs.workflowId }).from(jobs).where(inArray(jobs.id, ids)),
  );
  expect(recorded.map((r) => r.state)).toEqual(ids.map(() => 'succeeded'));

  const workflowIds = recorded.map((r) => r.workflowId);
  for (const workflowId of workflowIds) {
    let executions = 0;
    for await (const _ of stack!.temporal.client.workflow.list({ query: `WorkflowId="${workflowId}"` }))
      executions++;
    expect(executions, workflowId).toBe(1);
  }
  // The parts go once the job is done (the workflow deletes them after recording the outcome).
  await eventually(
    async () => {
      const left = await fs.readdir(path.join(stack!.storageDir, 'parts')).catch(() => [] as string[]);
      return left.some((id) => ids.includes(id)) ? undefined : true;
    },
    WAIT_MS,
    250,
  );
}

/** The workers running now: a restart of PostgreSQL or Temporal must not end any of them. */
function livePids(): number[] {
  expectWorkersAlive();
  return [jobsWorker!, ...exportWorkers].map((w) => w.pid).sort((a, b) => a - b);
}

/** A new client's export in every format, each past its first part; and the worker processes now. */
async function exportsUnderWay() {
  const { userId, call } = await newClient();
  const submissions = await Promise.all(
    FORMATS.map(async (format) => ({ id: await submitted(call, format), format })),
  );
  await allMidExport(
    call,
    submissions.map((s) => s.id),
  );
  return { userId, call, submissions, first: submissions[0]!, workers: livePids() };
}

describe('restarts', () => {
  // Each test starts with a live jobs worker and two live export workers: one that crashed in an
  // earlier (failed) test must not fail the next one too.
  beforeEach(async () => {
    if (!isAlive(jobsWorker)) jobsWorker = await startWorkerProcess(['jobs'], stack!.childEnv);
    const live = exportWorkers.filter((w) => isAlive(w));
    const started = await Promise.all(
      Array.from({ length: 2 - live.length }, () => startWorkerProcess(['exports'], stack!.childEnv)),
    );
    exportWorkers = [...live, ...started];
  });

  it('records the file of each request from an uninterrupted run', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { call } = await newClient();
    const ids = await Promise.all(FORMATS.map((format) => submitted(call, format)));
    const ended = await waitEnded(call, ids);
    for (const [i, b] of ended.entries()) {
      expect(b.state, JSON.stringify(b.error)).toBe('succeeded');
      expect(b.result?.rows).toBe(ROWS);
      expect((await attemptsOf(b.id)).map((a) => a.attempt)).toEqual([1]);
      const download = Buffer.from(await (await call(`/v1/jobs/${b.id}/download`)).arrayBuffer());
      expect(sha256(download)).toBe(b.result!.sha256);
      baseline.set(FORMATS[i]!, { sha256: b.result!.sha256, bytes: b.result!.bytes });
    }
    // The CSV is also what one COPY of the tenant gives, so the baseline itself is right.
    const copy = await tenantCsvViaCopy(stack!.database.sql, tenant);
    expect(baseline.get('csv')).toEqual({ sha256: sha256(copy), bytes: copy.length });
  });

  it(
    'loses nothing when the Temporal server is SIGKILLed mid-export and restarted on its file',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      expect(baseline.size).toBe(FORMATS.length);
      const { userId, call, submissions, first, workers } = await exportsUnderWay();
      await temporal!.kill();
      temporal = undefined;
      const killedAt = Date.now();

      // A job is still read from its row (progress as last recorded), and so is the list...
      const during = await job(call, first.id);
      expect(during.state).toBe('running');
      expect((await call('/v1/jobs')).status).toBe(200);
      // ...and a new one is accepted: its row is the outbox, its workflow starts once Temporal is back.
      const late = await submit(call, 'csv');
      expect(late.status, await late.clone().text()).toBe(202);
      const lateId = ((await late.json()) as JobBody).id;
      submissions.push({ id: lateId, format: 'csv' });
      expect((await job(call, lateId)).state).toBe('queued');
      // A request that needs Temporal itself answers 503 (once the client's own retries gave up), and
      // changes nothing: the job still succeeds.
      await expectDependencyUnavailable(await call(`/v1/jobs/${first.id}/cancel`, { method: 'POST' }));
      expect(await readiness()).toMatchObject({ status: 503, temporal: false });
      const downMs = Date.now() - killedAt;

      temporal = await startTemporal();
      await expectAllCorrect(userId, call, submissions);
      expect(livePids()).toEqual(workers);
      const attempts = await Promise.all(submissions.map((s) => attemptsOf(s.id)));
      console.log(
        `restarts: Temporal down ${downMs} ms; attempts per job ${attempts.map((a) => a.length).join(', ')}`,
      );
    },
  );

  it(
    'loses nothing when PostgreSQL restarts mid-export, and answers 503 while it is down',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      expect(baseline.size).toBe(FORMATS.length);
      const { userId, call, submissions, first, workers } = await exportsUnderWay();
      await pg!.stop();
      pg = undefined;
      const stoppedAt = Date.now();

      // Every request that needs the database (all but the health checks: the API key is looked up in
      // it) answers 503 problem+json with Retry-After; none is a 500.
      const key = randomUUID();
      await expectDependencyUnavailable(await submit(call, 'ndjson', key));
      for (const [method, p] of [
        ['GET', `/v1/jobs/${first.id}`],
        ['GET', '/v1/jobs'],
        ['GET', `/v1/jobs/${first.id}/download`],
        ['POST', `/v1/jobs/${first.id}/cancel`],
        ['POST', `/v1/jobs/${first.id}/retry`],
        ['GET', '/v1/me'],
        ['GET', '/v1/datasets'],
      ] as const) {
        const res = await call(p, { method });
        await expectDependencyUnavailable(res);
      }
      expect(await readiness()).toMatchObject({ status: 503, database: false });
      expect((await fetch(`${stack!.baseUrl}/healthz`)).status).toBe(200);
      const downMs = Date.now() - stoppedAt;

      pg = await startPostgres();
      // The client retries its refused submission with the same Idempotency-Key: one job, however often.
      const retried = await eventually(
        async () => {
          const res = await submit(call, 'ndjson', key);
          if (res.status !== 503) return res;
          await expectDependencyUnavailable(res);
          return undefined;
        },
        WAIT_MS,
        250,
      );
      expect(retried.status, await retried.clone().text()).toBe(202);
      const lateId = ((await retried.json()) as JobBody).id;
      const again = await submit(call, 'ndjson', key);
      expect(again.status).toBe(200);
      expect(((await again.json()) as JobBody).id).toBe(lateId);
      submissions.push({ id: lateId, format: 'ndjson' });

      await expectAllCorrect(userId, call, submissions);
      // The workers lived through it: an export's reserved connection the server closed failed its
      // attempt, not its process (src/db/reserve.ts).
      expect(livePids()).toEqual(workers);
      await eventually(async () => ((await readiness()).status === 200 ? true : undefined), WAIT_MS, 250);
      const attempts = await Promise.all(submissions.map((s) => attemptsOf(s.id)));
      console.log(
        `restarts: PostgreSQL down ${downMs} ms; attempts per job ${attempts.map((a) => a.length).join(', ')}`,
      );
    },
  );

  it(
    'loses nothing when export workers are SIGKILLed one after another',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      expect(baseline.size).toBe(FORMATS.length);
      const { userId, call } = await newClient();
      const submissions = await Promise.all(
        [...FORMATS, 'csv' as const].map(async (format) => ({ id: await submitted(call, format), format })),
      );
      const ids = submissions.map((s) => s.id);
      const KILLS = 3;
      const killed: { pid: number; jobId: string; done: number }[] = [];
      while (killed.length < KILLS) {
        // The next victim: a worker running an attempt of an unfinished job that has made progress.
        const victim = await eventually(
          async () => {
            let ended = 0;
            for (const id of ids) {
              const b = await job(call, id);
              if (TERMINAL.includes(b.state)) ended++;
              if (b.state !== 'running' || b.progress.done < PART_ROWS || b.progress.done >= ROWS) continue;
              const current = (await attemptsOf(id)).at(-1);
              if (!current || current.finishedAt) continue;
              const worker = exportWorkers.find((w) => current.worker === `${os.hostname()}:${w.pid}`);
              if (worker && (await rowState(id)) === 'running') return { worker, id, done: b.progress.done };
            }
            return ended === ids.length ? null : undefined;
          },
          WAIT_MS,
          50,
        );
        if (!victim) break;
        await victim.worker.kill();
        killed.push({ pid: victim.worker.pid, jobId: victim.id, done: victim.done });
        exportWorkers = exportWorkers.filter((w) => w !== victim.worker);
        exportWorkers.push(await startWorkerProcess(['exports'], stack!.childEnv));
      }

      expect(killed.length, 'every job ended before the kills were done').toBe(KILLS);
      await expectAllCorrect(userId, call, submissions);
      // Each kill cost its job an attempt, resumed by another worker.
      for (const k of killed) {
        const attempts = await attemptsOf(k.jobId);
        expect(attempts.length, `job ${k.jobId}`).toBeGreaterThan(1);
        expect(attempts.some((a) => a.worker === `${os.hostname()}:${k.pid}` && !a.finishedAt)).toBe(true);
      }
      const attempts = await Promise.all(ids.map((id) => attemptsOf(id)));
      console.log(
        `restarts: killed ${killed.length} workers at ${killed.map((k) => k.done).join(', ')} rows done; ` +
          `attempts per job ${attempts.map((a) => a.length).join(', ')}`,
      );
    },
  );
});
