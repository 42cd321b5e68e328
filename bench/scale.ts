/**
 * Scale and chaos, by hand: export and audio worker processes against one Temporal dev server, one
 * PostgreSQL and one storage directory; mixed jobs from three users; a random heavy worker SIGKILLed
 * (and restarted) every few seconds. Every job must end `succeeded` with a correct file, and nothing
 * may be produced twice. Run once with one export worker and once with three, in one go:
 *
 *   npx tsx bench/scale.ts [--jobs 60] [--rows 100000] [--kill-every 3] [--export-workers 1,3]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setUserLimits } from '../src/db/limits-repo.js';
import { seedOrders } from '../src/db/seed.js';
import { createApiKey, ensureUser } from '../src/db/users-repo.js';
import { speechText } from '../test/helpers/speech-text.js';
import { WORKER_NODE_FLAGS } from '../src/worker/node-flags.js';
import { startBenchStack } from './harness.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '60' },
    rows: { type: 'string', default: '100000' },
    'kill-every': { type: 'string', default: '3' },
    'export-workers': { type: 'string', default: '1,3' },
  },
});
const JOBS = Number(values.jobs);
const ROWS = Number(values.rows);
const KILL_EVERY_MS = Number(values['kill-every']) * 1000;
const EXPORT_WORKER_COUNTS = values['export-workers'].split(',').map(Number);
const ROOT = path.resolve(import.meta.dirname, '..');
const say = (msg: string) => console.log(`[scale ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const stack = await startBenchStack({
  name: 'scale',
  bundle: true,
  databaseMax: 6,
  env: {
    // A killed worker's activity is retried elsewhere after 3 s without heartbeats; never given up.
    EXPORT_HEARTBEAT_TIMEOUT_MS: '3000',
    AUDIO_HEARTBEAT_TIMEOUT_MS: '3000',
    EXPORT_MAX_ATTEMPTS: '50',
    AUDIO_MAX_ATTEMPTS: '50',
    EXPORT_RETRY_INITIAL_MS: '500',
    EXPORT_RETRY_MAX_MS: '2000',
    AUDIO_RETRY_INITIAL_MS: '500',
    AUDIO_RETRY_MAX_MS: '2000',
    EXPORT_PART_ROWS: '2000',
    EXPORTS_CONCURRENCY: '2',
    AUDIO_CONCURRENCY: '1',
    RATE_LIMIT_PER_SEC: '0',
    WORKER_SHUTDOWN_GRACE_MS: '0',
  },
});
const { env, database, base, scratch } = stack;

interface User {
  key: string;
  tenant: string;
  ids: string[];
}
const users: User[] = [];
for (const name of ['ana', 'bo', 'cy']) {
  const tenant = `scale-${name}`;
  await seedOrders(database.sql, ROWS, [tenant]);
  const user = await ensureUser(database.db, `scale-${name}`, tenant);
  await setUserLimits(database.db, user.id, { maxRunningHeavy: 10, maxActiveJobs: 1000 });
  users.push({ key: (await createApiKey(database.db, user.id)).key, tenant, ids: [] });
}
for (const u of users) {
  const rows = await database.sql<{ id: string }[]>`
    select id::text as id from orders where tenant_id = ${u.tenant} order by orders.id`;
  u.ids = rows.map((r) => r.id);
}

// --------------------------------------------------------------------------------------------
// Worker processes, killed and restarted at random

interface Worker {
  queue: 'jobs' | 'exports' | 'audio';
  child: ChildProcess;
}
let workers: Worker[] = [];
function startWorker(queue: Worker['queue']): Promise<Worker> {
  const child = spawn(
    process.execPath,
    [...WORKER_NODE_FLAGS, '--import', 'tsx', 'src/worker/index.ts', '--queues', queue],
    {
      cwd: ROOT,
      env: { ...env, LOG_LEVEL: 'info' },
      // The SDK's own log lines (stderr) are left out; a failed start shows in the exit code.
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      if (out.length < 10_000) out += c.toString();
      if (out.includes('"worker started"')) resolve({ queue, child });
    });
    child.once('exit', (code) => reject(new Error(`${queue} worker exited ${code}`)));
  });
}
async function stopAll(): Promise<void> {
  const exits = workers.map(
    (w) => new Promise((r) => (w.child.exitCode === null ? w.child.once('exit', r) : r(null))),
  );
  for (const w of workers) w.child.kill('SIGKILL');
  workers = [];
  await Promise.all(exits);
}

// --------------------------------------------------------------------------------------------
// Jobs and their checks

type Spec =
  | { kind: 'export'; user: User; format: 'csv' | 'ndjson' | 'xlsx' }
  | { kind: 'audio'; user: User; text: string; format: 'wav' | 'mp3' };

function mix(n: number): Spec[] {
  const specs: Spec[] = [];
  const formats = ['csv', 'ndjson', 'xlsx'] as const;
  for (let i = 0; i < n; i++) {
    const user = users[i % users.length]!;
    // Two exports for every audio job; four distinct texts, so equal requests can be compared.
    if (i % 3 === 2)
      specs.push({ kind: 'audio', user, text: speechText(2500, i % 4), format: i % 2 ? 'mp3' : 'wav' });
    else specs.push({ kind: 'export', user, format: formats[i % formats.length]! });
  }
  return specs;
}

async function post(spec: Spec): Promise<string> {
  const [route, body] =
    spec.kind === 'export'
      ? ['/v1/exports', { dataset: 'orders', format: spec.format }]
      : ['/v1/audio', { text: spec.text, format: spec.format }];
  const res = await fetch(base + route, {
    method: 'POST',
    headers: { authorization: `Bearer ${spec.user.key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 202) throw new Error(`POST ${route}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function job(spec: Spec, id: string): Promise<{ state: string; attempts: number }> {
  const res = await fetch(`${base}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${spec.user.key}` } });
  return (await res.json()) as { state: string; attempts: number };
}

async function download(spec: Spec, id: string): Promise<Buffer> {
  const res = await fetch(`${base}/v1/jobs/${id}/download`, {
    headers: { authorization: `Bearer ${spec.user.key}` },
  });
  if (!res.ok) throw new Error(`download ${id}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The ids a file holds, in order, read back by an independent reader where there is one. */
function idsIn(spec: Spec & { kind: 'export' }, file: Buffer, scratchFile: string): string[] {
  if (spec.format === 'csv')
    return file
      .toString()
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[0]!);
  if (spec.format === 'ndjson')
    return file
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => String((JSON.parse(l) as { id: number | string }).id));
  const py = spawnSync(
    'python3',
    [
      '-c',
      'import sys, openpyxl\nwb = openpyxl.load_workbook(sys.argv[1], read_only=True)\n' +
        'for ws in wb.worksheets:\n  for i, row in enumerate(ws.iter_rows(values_only=True)):\n' +
        '    if i > 0: print(int(row[0]))',
      scratchFile,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (py.status !== 0) throw new Error(`openpyxl: ${py.stderr}`);
  return py.stdout.trimEnd().split('\n');
}

async function run(exportWorkers: number): Promise<void> {
  say(
    `run with ${exportWorkers} export worker(s), 2 audio workers, ${JOBS} jobs, a kill every ${KILL_EVERY_MS / 1000} s`,
  );
  workers = await Promise.all([
    startWorker('jobs'),
    ...Array.from({ length: exportWorkers }, () => startWorker('exports')),
    startWorker('audio'),
    startWorker('audio'),
  ]);
  const specs = mix(JOBS);
  const started = performance.now();
  const ids = await Promise.all(specs.map(post));
  let kills = 0;
  const chaos = setInterval(() => {
    const heavy = workers.filter((w) => w.queue !== 'jobs');
    const victim = heavy[Math.floor(Math.random() * heavy.length)]!;
    victim.child.kill('SIGKILL');
    kills++;
    workers = workers.filter((w) => w !== victim);
    startWorker(victim.queue).then(
      (w) => workers.push(w),
      (err: Error) => say(`restart failed: ${err.message}`),
    );
  }, KILL_EVERY_MS);

  const pending = new Set(ids.keys());
  const attempts: number[] = [];
  while (pending.size > 0) {
    for (const i of [...pending]) {
      const j = await job(specs[i]!, ids[i]!);
      if (j.state === 'queued' || j.state === 'running') continue;
      if (j.state !== 'succeeded') throw new Error(`job ${ids[i]} ended ${j.state}`);
      attempts.push(j.attempts);
      pending.delete(i);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(chaos);
  await stopAll();

  // Every file: exports hold each of the tenant's rows exactly once, in order; audio files of the same
  // request are identical whichever attempts and workers produced them.
  const audioHashes = new Map<string, Set<string>>();
  for (const [i, spec] of specs.entries()) {
    const file = await download(spec, ids[i]!);
    if (spec.kind === 'export') {
      const tmp = path.join(scratch, `${ids[i]}.${spec.format}`);
      await fs.writeFile(tmp, file);
      const got = idsIn(spec, file, tmp);
      const wrong = got.findIndex((id, k) => id !== spec.user.ids[k]);
      if (got.length !== spec.user.ids.length || wrong !== -1) {
        say(`first difference at row ${wrong}: ${JSON.stringify(got[wrong])} vs ${spec.user.ids[wrong]}`);
        throw new Error(
          `${ids[i]} (${spec.format}): ${got.length} rows, not the tenant's ${spec.user.ids.length} in order`,
        );
      }
    } else {
      const key = `${spec.format}:${createHash('sha256').update(spec.text).digest('hex')}`;
      const set = audioHashes.get(key) ?? new Set<string>();
      set.add(createHash('sha256').update(file).digest('hex'));
      audioHashes.set(key, set);
    }
  }
  for (const [key, hashes] of audioHashes) {
    if (hashes.size !== 1) throw new Error(`audio ${key}: ${hashes.size} different files for one request`);
  }
  // Exactly one result file per job, and no parts left behind.
  for (const id of ids) {
    const files = await fs.readdir(path.join(env.STORAGE_DIR!, 'objects', id));
    if (files.length !== 1) throw new Error(`${id}: ${files.length} files: ${files.join(', ')}`);
  }
  const leftoverParts = await fs.readdir(path.join(env.STORAGE_DIR!, 'parts')).catch(() => []);
  const retried = attempts.filter((a) => a > 1).length;
  say(
    `${exportWorkers} export worker(s): ${JOBS} jobs succeeded and checked in ${seconds.toFixed(1)} s; ` +
      `${kills} kills; ${retried} jobs needed more than one attempt (max ${Math.max(...attempts)}); ` +
      `one result file per job, ${leftoverParts.length} part directories left`,
  );
}

try {
  for (const n of EXPORT_WORKER_COUNTS) await run(n);
} finally {
  await stopAll();
  await stack.close();
}
