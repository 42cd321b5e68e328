/**
 * Export engine benchmark: end-to-end offload exports (POST → downloaded file) of N `orders` rows in
 * every format against the baselines in the same run — `psql` COPY for CSV, the bare libraries
 * (bench/export-bare.ts) for XLSX, PDF and NDJSON, pyarrow for Parquet (`psql` COPY piped into
 * pyarrow's CSV reader and Parquet writer, one process) — with the export worker's peak RSS and event-loop
 * delay; then the time a failover costs (the worker killed at 50 %).
 * Starts its own embedded PostgreSQL (the state database), a second one that is the source the rows are
 * read from (SOURCE_DATABASE_URL, as a deployment reads its own database or replica; psql and the bare
 * baselines read the same server) and a Temporal dev server; results go to stdout as a Markdown table.
 * `--compiled`: the workers run the production build (`npm run build`, into dist/) with plain Node, as
 * the image and `npm run worker` do, instead of the sources through tsx.
 * Usage: tsx bench/export-engine.ts [--rows 1000000] [--formats csv,ndjson,xlsx,pdf,parquet] [--csv-runs 3] [--failover xlsx|none] [--worker-log FILE] [--lanes N] [--part-rows N] [--compiled]
 *        [--worker-node-flags='--trace-gc --perf-basic-prof']
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { listAttempts } from '../src/db/jobs-repo.js';
import { seedOrders } from '../src/db/seed.js';
import { createDatabase } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { startEmbeddedPostgres } from '../tools/postgres.js';
import { createApiKey, ensureUser } from '../src/db/users-repo.js';
import { which } from '../tools/binaries.js';
import { requirePyarrowPython } from '../tools/pyarrow.js';
import { WORKER_NODE_FLAGS } from '../src/worker/node-flags.js';
import { startBenchStack } from './harness.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    formats: { type: 'string', default: 'csv,ndjson,xlsx,pdf' },
    'csv-runs': { type: 'string', default: '3' },
    failover: { type: 'string', default: 'xlsx' },
    'worker-log': { type: 'string' },
    lanes: { type: 'string' },
    'part-rows': { type: 'string' },
    'worker-node-flags': { type: 'string' },
    compiled: { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const FORMATS = values.formats.split(',');
const TENANT = 'bench';
const ROOT = path.resolve(import.meta.dirname, '..');
/** Extra Node flags for the workers (profiling, GC traces), after the ones they always run with. */
const workerNodeFlags = values['worker-node-flags']?.split(/\s+/).filter(Boolean) ?? [];
const COLS = 'id, customer, email, country, status, currency, amount, item_count, created_at';

const log = (s: string) => console.error(`[bench] ${s}`);

log('starting the source PostgreSQL server');
const sourceDir = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-bench-source-'));
await fs.chmod(sourceDir, 0o755);
const sourcePg = await startEmbeddedPostgres({ dataDir: path.join(sourceDir, 'pg') });
// The demo tables (orders, customers) on the source: the same schema the state database's migration makes.
await migrateDatabase(sourcePg.url);
const source = createDatabase(sourcePg.url, { max: 2 });
log(`seeding ${ROWS} orders on the source`);
await seedOrders(source.sql, ROWS, [TENANT]);
await source.sql`vacuum analyze orders`;
await source.close();
const SOURCE_URL = sourcePg.url;

log('starting PostgreSQL, Temporal and the API');
const stack = await startBenchStack({
  name: 'export',
  env: {
    SOURCE_DATABASE_URL: SOURCE_URL,
    EXPORT_MAX_ROWS: '0',
    // One user polls its jobs in a tight loop here: no per-user rate limit.
    RATE_LIMIT_PER_SEC: '0',
    ...(values.lanes ? { EXPORT_READ_LANES: values.lanes } : {}),
    ...(values['part-rows'] ? { EXPORT_PART_ROWS: values['part-rows'] } : {}),
  },
});
const { scratch, env, config, database, base } = stack;
const user = await ensureUser(database.db, 'bench', TENANT);
const { key } = await createApiKey(database.db, user.id);
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

interface WorkerHandle {
  child: ChildProcess;
  probe: string;
}
async function startWorker(queues: string): Promise<WorkerHandle> {
  const probe = path.join(scratch, `probe-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  const entry = values.compiled
    ? ['--enable-source-maps', '--import', './bench/worker-probe.mjs', 'dist/worker/index.js']
    : ['--import', 'tsx', '--import', './bench/worker-probe.mjs', 'src/worker/index.ts'];
  const child = spawn(
    process.execPath,
    [...WORKER_NODE_FLAGS, ...workerNodeFlags, ...entry, '--queues', queues],
    {
      cwd: ROOT,
      env: {
        ...env,
        LOG_LEVEL: 'info',
        OFFLOAD_PROBE_FILE: probe,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('"worker started"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited ${code}`)));
  });
  if (values['worker-log']) child.stdout.pipe(createWriteStream(values['worker-log'], { flags: 'a' }));
  else child.stdout.resume();
  return { child, probe };
}
function resetWorker(w: WorkerHandle): void {
  writeFileSync(`${w.probe}.reset`, '');
  // Writing 5 to clear_refs resets the peak RSS (VmHWM) of the process (Linux).
  writeFileSync(`/proc/${w.child.pid}/clear_refs`, '5');
}
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}
async function probe(w: WorkerHandle): Promise<{ p99: number; max: number }> {
  await new Promise((r) => setTimeout(r, 300));
  return JSON.parse(readFileSync(w.probe, 'utf8')) as { p99: number; max: number };
}

interface Job {
  id: string;
  state: string;
  progress: { done: number; percent: number };
  result: { rows: number; bytes: number } | null;
}
async function runExport(format: string, onProgress?: (j: Job) => Promise<void>) {
  const started = performance.now();
  const res = await fetch(`${base}/v1/exports`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ dataset: 'orders', format }),
  });
  if (res.status !== 202) throw new Error(`POST ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as Job;
  const postMs = performance.now() - started;
  // Polled like a client would (every 100 ms, not in a tight loop that would load the machine the
  // export runs on); the end is then read from the job's own timestamps, below.
  for (;;) {
    const job = (await (await fetch(`${base}/v1/jobs/${id}`, { headers })).json()) as Job;
    if (job.state === 'succeeded') break;
    if (job.state !== 'queued' && job.state !== 'running') throw new Error(`job ${id} ${job.state}`);
    await onProgress?.(job);
    await new Promise((r) => setTimeout(r, 100));
  }
  const seen = performance.now() - started;
  // "Downloadable" is the end of the export: the file is published and the job row says succeeded
  // (finished_at). From the POST to it: the whole POST round trip (which includes the row's insert,
  // so this errs long), then the row's created_at to finished_at by the database's clock.
  const [row] = await database.sql<{ ms: number }[]>`
    select (extract(epoch from finished_at - created_at) * 1000)::float8 as ms from jobs where id = ${id}`;
  const downloadable = postMs + row!.ms;
  const file = path.join(scratch, `${id}.${format}`);
  const dl = await fetch(`${base}/v1/jobs/${id}/download`, { headers });
  await pipeline(Readable.fromWeb(dl.body as never), createWriteStream(file));
  const downloadMs = performance.now() - started - seen;
  const { size } = await fs.stat(file);
  await fs.rm(file);
  return { id, ms: downloadable, downloadMs, bytes: size };
}

/** The rows every baseline reads, as `psql` COPYs them. */
const COPY_CSV = `COPY (SELECT ${COLS} FROM orders WHERE tenant_id = '${TENANT}' ORDER BY id) TO STDOUT WITH CSV`;

/** A child's exit code and its whole stdout and stderr. */
async function captured(
  cmd: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out, err };
}

/** The peak RSS `/usr/bin/time -f RSS=%M` printed, in MB. */
const rssMb = (stderr: string) => Math.round(Number(/RSS=(\d+)/.exec(stderr)?.[1] ?? NaN) / 1024);

async function psqlCopy(): Promise<{ ms: number; bytes: number }> {
  const psql = which('psql');
  if (!psql) throw new Error('psql not found (apt-get install postgresql-client)');
  const file = path.join(scratch, 'psql.csv');
  const fd = openSync(file, 'w');
  const started = performance.now();
  const child = spawn(psql, [SOURCE_URL, '-X', '-q', '-c', COPY_CSV], { stdio: ['ignore', fd, 'inherit'] });
  const [code] = (await once(child, 'exit')) as [number];
  const ms = performance.now() - started;
  closeSync(fd);
  if (code !== 0) throw new Error(`psql exited ${code}`);
  const { size } = await fs.stat(file);
  await fs.rm(file);
  return { ms, bytes: size };
}

/**
 * Parquet's bare tool: `psql` COPY of the same rows as CSV into pyarrow (read_csv with the columns'
 * types, then write_table with offload's row-group size and GZIP), timed and measured (peak RSS of the
 * Python process) as one pipeline.
 */
async function pyarrowParquet(): Promise<{ ms: number; rows: number; bytes: number; rss: number }> {
  const file = path.join(scratch, 'bare.parquet');
  const script = [
    'import sys, pyarrow as pa, pyarrow.csv as pc, pyarrow.parquet as pq',
    "names = ['id','customer','email','country','status','currency','amount','item_count','created_at']",
    "types = {'id': pa.int64(), 'customer': pa.string(), 'email': pa.string(), 'country': pa.string(),",
    "  'status': pa.string(), 'currency': pa.string(), 'amount': pa.decimal128(38, 2),",
    "  'item_count': pa.int64(), 'created_at': pa.timestamp('us', tz='UTC')}",
    'table = pc.read_csv(sys.stdin.buffer, read_options=pc.ReadOptions(column_names=names),',
    '  convert_options=pc.ConvertOptions(column_types=types))',
    "pq.write_table(table, sys.argv[1], row_group_size=50000, compression='gzip')",
    'print(table.num_rows)',
  ].join('\n');
  const started = performance.now();
  const { code, out, err } = await captured('bash', [
    '-o',
    'pipefail',
    '-c',
    `psql "$0" -X -q -c "$1" | /usr/bin/time -f RSS=%M "$2" -c "$3" "$4"`,
    SOURCE_URL,
    COPY_CSV,
    requirePyarrowPython(),
    script,
    file,
  ]);
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`pyarrow baseline failed: ${err}`);
  const { size } = await fs.stat(file);
  await fs.rm(file);
  return { ms, rows: Number(out.trim()), bytes: size, rss: rssMb(err) };
}

async function bare(format: string): Promise<{ ms: number; rows: number; bytes: number; rss: number }> {
  const file = path.join(scratch, `bare.${format}`);
  const { code, out, err } = await captured(
    '/usr/bin/time',
    [
      ...['-f', 'RSS=%M', process.execPath, '--import', 'tsx', 'bench/export-bare.ts'],
      ...[format, SOURCE_URL, TENANT, file],
    ],
    ROOT,
  );
  if (code !== 0) throw new Error(`bare ${format} failed: ${err}`);
  await fs.rm(file, { force: true });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; rows: number; bytes: number };
  return { ...r, rss: rssMb(err) };
}

const rate = (rows: number, ms: number) => Math.round(rows / (ms / 1000));
const lines: string[] = [
  `| format | offload POST→downloadable | offload rows/s | file MB | then download | baseline | baseline rows/s | ratio | export worker peak RSS | worker ELD p99 / max | baseline peak RSS |`,
  `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
];

if (values.compiled) {
  log('building dist/ (npm run build)');
  const build = spawn(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const [code] = (await once(build, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`npm run build exited with ${code}`);
}
// The measured export worker serves only `exports`; workflows and record-keeping run on a `jobs` worker.
log(
  `starting a jobs worker and an exports worker (${values.compiled ? 'dist/, plain Node' : 'src/ through tsx'})`,
);
const jobsWorker = await startWorker('jobs');
const worker = await startWorker('exports');
// One warm-up export: bundling, connections, caches.
await runExport('csv');

for (const format of FORMATS) {
  const runs = format === 'csv' ? Number(values['csv-runs']) : 1;
  for (let i = 0; i < runs; i++) {
    const baseline =
      format === 'csv'
        ? { name: 'psql COPY → file', ...(await psqlCopy()), rows: ROWS, rss: NaN }
        : format === 'parquet'
          ? { name: 'psql COPY → pyarrow', ...(await pyarrowParquet()) }
          : {
              name: format === 'xlsx' ? 'exceljs stream' : format === 'pdf' ? 'pdfkit' : 'JSON.stringify',
              ...(await bare(format)),
            };
    const nodeCopy = format === 'csv' ? await bare('csv') : undefined;
    resetWorker(worker);
    const ours = await runExport(format);
    const rss = peakRssMb(worker.child.pid!);
    const eld = await probe(worker);
    const line =
      `| ${format} | ${(ours.ms / 1000).toFixed(2)} s | ${rate(ROWS, ours.ms).toLocaleString('en-US')} | ${(ours.bytes / 1e6).toFixed(1)} | ` +
      `${(ours.downloadMs / 1000).toFixed(2)} s | ${baseline.name} | ` +
      `${rate(baseline.rows, baseline.ms).toLocaleString('en-US')} | ${(rate(ROWS, ours.ms) / rate(baseline.rows, baseline.ms)).toFixed(2)} | ` +
      `${rss} MB | ${eld.p99} / ${eld.max} ms | ${Number.isNaN(baseline.rss) ? '–' : `${baseline.rss} MB`} |`;
    lines.push(line);
    log(line);
    if (nodeCopy) {
      const extra =
        `| ${format} | (same run) | | | | postgres.js COPY → file | ${rate(nodeCopy.rows, nodeCopy.ms).toLocaleString('en-US')} | ` +
        `${(rate(ROWS, ours.ms) / rate(nodeCopy.rows, nodeCopy.ms)).toFixed(2)} | | | ${nodeCopy.rss} MB |`;
      lines.push(extra);
      log(extra);
    }
  }
}

let failoverLine = '';
if (values.failover !== 'none') {
  const format = values.failover;
  log(`failover: ${format}, two export workers, kill at 50 %`);
  const first = worker;
  const second = await startWorker('exports');
  const straight = await runExport(format);
  let killedAt: number | undefined;
  let replacement: WorkerHandle | undefined;
  const failed = await runExport(format, async (job) => {
    if (killedAt !== undefined || job.progress.percent < 50) return;
    const [attempt] = await listAttempts(database.db, job.id);
    const victim = [first, second].find((w) => attempt?.worker.endsWith(`:${w.child.pid}`));
    if (!victim) return;
    victim.child.kill('SIGKILL');
    killedAt = performance.now();
    replacement = await startWorker('exports');
  });
  const lost = (failed.ms - straight.ms) / 1000;
  const budget = config.EXPORT_HEARTBEAT_TIMEOUT_MS / 1000 + 5;
  failoverLine =
    `Failover (${format}, ${ROWS.toLocaleString('en-US')} rows, killed at 50 %): uninterrupted ${(straight.ms / 1000).toFixed(1)} s, ` +
    `with the kill ${(failed.ms / 1000).toFixed(1)} s: ${lost.toFixed(1)} s lost; target ≤ heartbeat timeout ` +
    `${config.EXPORT_HEARTBEAT_TIMEOUT_MS / 1000} s + 5 s = ${budget} s → ${lost <= budget ? 'met' : 'NOT met'}.`;
  log(failoverLine);
  for (const w of [jobsWorker, first, second, replacement]) w?.child.kill('SIGTERM');
} else {
  for (const w of [jobsWorker, worker]) w.child.kill('SIGTERM');
}

console.log(
  `\nRows: ${ROWS.toLocaleString('en-US')} orders of one tenant; ${os.cpus().length} cores; Node ${process.version}; workers from ${values.compiled ? 'dist/ (compiled)' : 'src/ through tsx'}.\n`,
);
console.log(lines.join('\n'));
if (failoverLine) console.log(`\n${failoverLine}`);

await new Promise((r) => setTimeout(r, 1000));
await stack.close();
await sourcePg.stop();
await fs.rm(sourceDir, { recursive: true, force: true });
