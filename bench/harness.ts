/**
 * The stack an end-to-end benchmark starts for itself: a scratch directory, an embedded PostgreSQL
 * (migrated) and a Temporal dev server, a prebuilt workflow bundle for worker processes when asked, and
 * an in-process API on a free port of 127.0.0.1. `close()` stops all of it and removes the scratch
 * directory. Worker processes are the benchmark's own: they get `env`.
 */
import { once } from 'node:events';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { bundleWorkflowCode } from '@temporalio/worker';
import { loadConfig, type Config } from '../src/config/env.js';
import { createDatabase, type Database } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { startEmbeddedPostgres } from '../tools/postgres.js';
import { startTemporalDevServer } from '../tools/temporal.js';
import { createLogger } from '../src/lib/logger.js';
import { createApp } from '../src/server/app.js';
import { openDatasets } from '../src/datasets/load.js';
import { createStorage } from '../src/storage/index.js';
import { connectTemporal, type TemporalHandle } from '../src/temporal/client.js';
import { WORKFLOWS_PATH } from '../src/worker/create-workers.js';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../src/worker/workflow-interceptors.js';

export interface BenchStackOptions {
  /** Names the scratch directory (`offload-bench-<name>-…`) and the API's logger. */
  name: string;
  /** Settings for the API and the workers, over the defaults (production, warn, local storage). */
  env?: Record<string, string>;
  /** Bundle the workflows once and give workers `WORKFLOW_BUNDLE_PATH`, so each starts quickly. */
  bundle?: boolean;
  /** Connections of the benchmark's own pool (also the API's). */
  databaseMax?: number;
}

export interface BenchStack {
  scratch: string;
  /** The environment worker processes get: PATH, HOME, the stack's addresses and the options' `env`. */
  env: Record<string, string>;
  config: Config;
  database: Database;
  temporal: TemporalHandle;
  /** The API's base URL. */
  base: string;
  close(): Promise<void>;
}

export async function startBenchStack(opts: BenchStackOptions): Promise<BenchStack> {
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), `offload-bench-${opts.name}-`));
  // PostgreSQL runs as its own user and must reach its data directory below this one.
  await fs.chmod(scratch, 0o755);
  const [pg, temporalServer, bundle] = await Promise.all([
    startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg') }),
    startTemporalDevServer({ uiPort: false }),
    opts.bundle
      ? bundleWorkflowCode({
          workflowsPath: WORKFLOWS_PATH,
          workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
          logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
        })
      : undefined,
  ]);
  await migrateDatabase(pg.url);
  const env: Record<string, string> = {
    ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: pg.url,
    TEMPORAL_ADDRESS: temporalServer.address,
    STORAGE_DIR: path.join(scratch, 'storage'),
    ...opts.env,
  };
  if (bundle) {
    env.WORKFLOW_BUNDLE_PATH = path.join(scratch, 'workflow-bundle.js');
    await fs.writeFile(env.WORKFLOW_BUNDLE_PATH, bundle.code);
  }
  const config = loadConfig({ ...env, PORT: '0' });
  const database = createDatabase(pg.url, { max: opts.databaseMax ?? 4 });
  const temporal = await connectTemporal(config.temporal);
  // As the API does: DATASETS_FILE (or the demo) checked against SOURCE_DATABASE_URL (or the state database).
  const datasets = await openDatasets(config, {
    max: config.SOURCE_POOL_MAX,
    appName: 'offload-api',
    statementTimeoutMs: config.API_STATEMENT_TIMEOUT_MS,
  });
  const { app } = createApp({
    datasets,
    config,
    database,
    temporal: temporal.client,
    storage: createStorage(config),
    log: createLogger({ level: 'warn', name: `bench-${opts.name}` }),
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;
  return {
    scratch,
    env,
    config,
    database,
    temporal,
    base,
    close() {
      closing ??= (async () => {
        await new Promise((r) => server.close(r));
        await temporal.close();
        await database.close();
        await datasets.close();
        await temporalServer.stop();
        await pg.stop();
        await fs.rm(scratch, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
