/**
 * Isolation benchmark: does heavy work hurt light requests? One run, on its own embedded PostgreSQL and
 * Temporal dev server, measures p50/p99 latency of `GET /v1/jobs/{id}` and `GET /healthz` with autocannon:
 *   1. offload idle, 2. offload with HEAVY exports running (worker: EXPORTS_CONCURRENCY=HEAVY),
 *   3. the inline baseline (bench/inline-baseline.ts) idle, 4. the baseline with HEAVY exports running
 *      inside its request handlers,
 * then 5. submission throughput: sustained accepted `POST /v1/exports` per second and their p99.
 * Prints a Markdown table for BENCHMARKS.md.
 *
 * Usage: npx tsx bench/isolation.ts [--rows 300000] [--heavy 8] [--seconds 10] [--connections 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createDatabase } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { seedOrders } from '../src/db/seed.js';
import { createApiKey, ensureUser } from '../src/db/users-repo.js';
import { startEmbeddedPostgres } from '../src/infra/postgres.js';
import { freePort } from '../src/infra/ports.js';
import { startTemporalDevServer } from '../src/infra/temporal.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '300000' },
    heavy: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    'worker-nice': { type: 'string', default: '10' },
  },
});
const ROWS = Number(values.rows);
const HEAVY = Number(values.heavy);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
/**
 * Workers belong on other machines than the API. On one box the closest thing is a lower CPU priority
 * for the worker process (its PostgreSQL backends keep normal priority). 0 turns it off.
 */
const WORKER_NICE = Number(values['worker-nice']);
const ROOT = path.resolve(import.meta.dirname, '..');

const say = (msg: string) => console.error(`[bench] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startProcess(name: string, args: string[], env: Record<string, string>, ready: string, nice = 0) {
  const node = [process.execPath, '--import', 'tsx', ...args];
  const child = spawn(
    nice > 0 ? 'nice' : node[0]!,
    nice > 0 ? ['-n', String(nice), ...node] : node.slice(1),
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const started = new Promise<ChildProcess>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(ready)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      const err = new Error(`${name} exited with ${code}:\n${out.slice(-3000)}`);
      if (!stopped.has(child)) say(err.message);
      reject(err);
    });
  });
  return started;
}

const stopped = new Set<ChildProcess>();

async function stopProcess(child: ChildProcess): Promise<void> {
  stopped.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

interface Latency {
  p50: number;
  p99: number;
  rps: number;
  ok: number;
  other: number;
}

async function measure(url: string, headers: Record<string, string>, opts: Partial<autocannon.Options> = {}) {
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: SECONDS, ...opts });
  return {
    p50: result.latency.p50,
    p99: result.latency.p99,
    rps: result.requests.average,
    ok: result['2xx'],
    other: result.non2xx + result.errors + result.timeouts,
  } satisfies Latency;
}

/** Keeps `n` heavy requests in flight until stopped; `one` runs one to its end. */
function keepInFlight(n: number, one: () => Promise<void>) {
  let stopping = false;
  let completed = 0;
  let failed = 0;
  const lanes = Array.from({ length: n }, async () => {
    while (!stopping) {
      try {
        await one();
        completed++;
      } catch (err) {
        failed++;
        say(`heavy request failed: ${(err as Error).message}`);
        await sleep(500);
      }
    }
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(lanes);
      return { completed, failed };
    },
  };
}

async function main(): Promise<void> {
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-bench-'));
  await fs.chmod(scratch, 0o755);
  say(`scratch ${scratch}; ${os.cpus().length} CPUs, ${ROWS} rows per export, ${HEAVY} heavy at once`);
  const [pg, temporal] = await Promise.all([
    startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg') }),
    startTemporalDevServer({ uiPort: false }),
  ]);
  const children: ChildProcess[] = [];
  try {
    await migrateDatabase(pg.url);
    const database = createDatabase(pg.url, { max: 2 });
    await seedOrders(database.sql, ROWS, ['bench-heavy']);
    await seedOrders(database.sql, 10, ['bench-light']);
    const heavyUser = await ensureUser(database.db, 'bench-heavy', 'bench-heavy');
    const lightUser = await ensureUser(database.db, 'bench-light', 'bench-light');
    const heavyKey = (await createApiKey(database.db, heavyUser.id)).key;
    const lightKey = (await createApiKey(database.db, lightUser.id)).key;
    const auth = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

    const storageDir = path.join(scratch, 'storage');
    const common = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: temporal.address,
      STORAGE_DIR: storageDir,
    };
    // Limits high enough that the benchmark measures the request path, not the limits' refusals
    // (the rate-limit bucket is still taken on every request).
    const limits = {
      RATE_LIMIT_PER_SEC: '1000000',
      RATE_LIMIT_BURST: '1000000',
      USER_MAX_ACTIVE_JOBS: '1000000',
      USER_MAX_RUNNING_HEAVY: String(HEAVY),
      HEAVY_BACKLOG_MAX: '1000000',
    };

    // --- offload ---
    const apiPort = await freePort();
    const api = await startProcess(
      'api',
      ['src/server/index.ts'],
      // Info, the production default: the API logs "API listening" and one line per accepted job.
      { ...common, ...limits, LOG_LEVEL: 'info', PORT: String(apiPort), OUTBOX_SWEEP_INTERVAL_MS: '60000' },
      'API listening',
    );
    children.push(api);
    const worker = await startProcess(
      'worker',
      ['src/worker/index.ts', '--queues', 'jobs,exports'],
      { ...common, LOG_LEVEL: 'info', EXPORTS_CONCURRENCY: String(HEAVY) },
      '"worker started"',
      WORKER_NICE,
    );
    children.push(worker);
    const base = `http://127.0.0.1:${apiPort}`;

    async function offloadExport(key: string): Promise<string> {
      const res = await fetch(`${base}/v1/exports`, {
        method: 'POST',
        headers: auth(key),
        body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
      });
      if (res.status !== 202) throw new Error(`POST /v1/exports answered ${res.status}: ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      for (;;) {
        const job = (await (await fetch(`${base}/v1/jobs/${id}`, { headers: auth(key) })).json()) as {
          state: string;
        };
        if (job.state === 'succeeded') return id;
        if (job.state !== 'queued' && job.state !== 'running')
          throw new Error(`job ${id} ended ${job.state}`);
        await sleep(250);
      }
    }

    const lightJob = await offloadExport(lightKey);
    const jobUrl = `${base}/v1/jobs/${lightJob}`;
    say('offload idle');
    const offIdleJob = await measure(jobUrl, auth(lightKey));
    const offIdleHealth = await measure(`${base}/healthz`, {});
    say(`offload with ${HEAVY} exports running`);
    const offLoad = keepInFlight(HEAVY, async () => void (await offloadExport(heavyKey)));
    await sleep(3000); // every export slot busy
    const offLoadJob = await measure(jobUrl, auth(lightKey));
    const offLoadHealth = await measure(`${base}/healthz`, {});
    const offDone = await offLoad.stop();
    say(`offload exports completed during the load phase: ${offDone.completed} (${offDone.failed} failed)`);

    say('submission throughput');
    const submit = await autocannon({
      url: `${base}/v1/exports`,
      method: 'POST',
      headers: auth(lightKey),
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
      connections: CONNECTIONS,
      duration: SECONDS,
    });
    const submissions = {
      accepted: submit['2xx'],
      perSec: submit['2xx'] / SECONDS,
      p50: submit.latency.p50,
      p99: submit.latency.p99,
      refused: submit.non2xx + submit.errors + submit.timeouts,
    };
    await stopProcess(worker);
    await stopProcess(api);

    // --- inline baseline ---
    const basePort = await freePort();
    const baseline = await startProcess(
      'baseline',
      ['bench/inline-baseline.ts'],
      { ...common, PORT: String(basePort), DATABASE_POOL_MAX: String(HEAVY + 4) },
      'baseline listening',
    );
    children.push(baseline);
    const bUrl = `http://127.0.0.1:${basePort}`;
    const bJobUrl = `${bUrl}/v1/jobs/${lightJob}`;
    say('baseline idle');
    const bIdleJob = await measure(bJobUrl, auth(lightKey));
    const bIdleHealth = await measure(`${bUrl}/healthz`, {});
    say(`baseline with ${HEAVY} inline exports running`);
    const bLoad = keepInFlight(HEAVY, async () => {
      const res = await fetch(`${bUrl}/v1/exports`, {
        method: 'POST',
        headers: auth(heavyKey),
        body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
      });
      if (res.status !== 200) throw new Error(`inline export answered ${res.status}`);
      await res.arrayBuffer();
    });
    await sleep(3000);
    const bLoadJob = await measure(bJobUrl, auth(lightKey));
    const bLoadHealth = await measure(`${bUrl}/healthz`, {});
    const bDone = await bLoad.stop();
    say(`baseline exports completed during the load phase: ${bDone.completed} (${bDone.failed} failed)`);
    await stopProcess(baseline);
    await database.close();

    const f = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
    // autocannon records whole milliseconds: below 1 ms counts as 1 ms in a ratio.
    const ratio = (a: Latency, b: Latency) => (Math.max(a.p99, 1) / Math.max(b.p99, 1)).toFixed(1);
    const row = (name: string, route: string, idle: Latency, load: Latency) =>
      `| ${name} | \`${route}\` | ${f(idle.p50)} / ${f(idle.p99)} | ${f(load.p50)} / ${f(load.p99)} | ${ratio(load, idle)}× | ${f(load.rps)} | ${load.other} |`;
    const lines = [
      `Run: ${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}.`,
      `Load: ${HEAVY} exports of ${ROWS} rows each kept running (offload: worker with EXPORTS_CONCURRENCY=${HEAVY}, nice ${WORKER_NICE}; baseline: ${HEAVY} inline requests, CSV formatted in the handler unless EXPORT_MODE=copy). autocannon: ${CONNECTIONS} connections, ${SECONDS} s per measurement. Everything (PostgreSQL, Temporal, API, worker, load generator) on this one machine; load average at the end ${os.loadavg()[0]!.toFixed(1)}.`,
      '',
      '| server | route | idle p50 / p99 (ms) | under load p50 / p99 (ms) | p99 load / idle | req/s under load | non-2xx/errors under load |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      row('offload', 'GET /v1/jobs/{id}', offIdleJob, offLoadJob),
      row('offload', 'GET /healthz', offIdleHealth, offLoadHealth),
      row('inline baseline', 'GET /v1/jobs/{id}', bIdleJob, bLoadJob),
      row('inline baseline', 'GET /healthz', bIdleHealth, bLoadHealth),
      '',
      `Baseline p99 under load vs offload p99 under load: \`GET /v1/jobs/{id}\` ${ratio(bLoadJob, offLoadJob)}×, \`GET /healthz\` ${ratio(bLoadHealth, offLoadHealth)}×.`,
      `Heavy exports completed during the load phases: offload ${offDone.completed}, baseline ${bDone.completed}.`,
      '',
      `Submission: ${f(submissions.perSec)} accepted \`POST /v1/exports\` per second sustained over ${SECONDS} s (${submissions.accepted} accepted, ${submissions.refused} not), p50 ${f(submissions.p50)} ms, p99 ${f(submissions.p99)} ms.`,
    ];
    console.log(lines.join('\n'));
  } finally {
    for (const child of children) await stopProcess(child);
    await temporal.stop();
    await pg.stop();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
