/**
 * An offload stack for integration tests, in this process: the API on a free port and workers for the
 * given queues, on the shared Temporal dev server and PostgreSQL of the run.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config/env.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { openDatasets } from '../../src/datasets/load.js';
import { and, inArray, isNotNull } from 'drizzle-orm';
import { jobs } from '../../src/db/schema.js';
import { createApiKey, ensureUser } from '../../src/db/users-repo.js';
import { createLogger } from '../../src/lib/logger.js';
import { createApp, type App } from '../../src/server/app.js';
import { JOBS_QUEUE, prefixedQueue, type TaskQueue } from '../../src/shared/temporal.js';
import { createStorage } from '../../src/storage/index.js';
import { connectTemporal, type TemporalHandle } from '../../src/temporal/client.js';
import { createStackDatabase } from './stack-database.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

/** What the failover tests read of an export job (GET /v1/jobs/{id}). */
export interface ExportJobBody {
  id: string;
  state: string;
  progress: { done: number; attempt: number };
  result: { rows: number; sha256: string; bytes: number } | null;
}

export interface Stack {
  baseUrl: string;
  config: Config;
  database: Database;
  temporal: TemporalHandle;
  app: App;
  storageDir: string;
  /** Environment for worker child processes pointed at the same services. */
  childEnv: Record<string, string>;
  newUser(tenant: string, scope?: 'user' | 'admin'): Promise<{ userId: string; key: string }>;
  /** Ids of the users newUser made, for cleaning up their jobs. */
  createdUsers(): string[];
  /** Terminate the workflows of these users' unfinished jobs and mark the jobs cancelled. */
  cancelActiveJobs(userIds?: string[]): Promise<void>;
  /** Resolves once the outbox relay has started the workflows of all these jobs. */
  workflowsStarted(jobIds: string[]): Promise<void>;
  stopWorkers(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(
  opts: {
    queues?: TaskQueue[];
    env?: Record<string, string>;
    /** Services of the stack's own instead of the run's shared ones (a test that restarts them). */
    services?: { databaseUrl?: string; temporalAddress?: string };
  } = {},
): Promise<Stack> {
  const storageDir = path.join(inject('scratchDir'), `storage-${randomUUID()}`);
  // The stack's own database (a copy of the migrated template), unless the test brings its own server.
  const ownDatabase = opts.services?.databaseUrl
    ? undefined
    : await createStackDatabase(inject('databaseUrl'), inject('templateDatabase'));
  // The stack's own task queues: another stack's workers on the same Temporal server never take its tasks.
  const queuePrefix = `t${randomUUID().slice(0, 8)}-`;
  await fs.mkdir(storageDir, { recursive: true });
  const childEnv: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: opts.services?.databaseUrl ?? ownDatabase!.url,
    TEMPORAL_ADDRESS: opts.services?.temporalAddress ?? inject('temporalAddress'),
    TEMPORAL_NAMESPACE: 'default',
    STORAGE_DIR: storageDir,
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
    EXPORT_HEARTBEAT_TIMEOUT_MS: '3000',
    EXPORT_RETRY_INITIAL_MS: '500',
    EXPORT_RETRY_MAX_MS: '2000',
    WORKER_SHUTDOWN_GRACE_MS: '0',
    TASK_QUEUE_PREFIX: queuePrefix,
    // The request rate limit is under test in limits.test.ts, which sets its own. Elsewhere one user's
    // polling and paging may pass the production default (20/s, bursts of 60) now that a status read
    // takes a few milliseconds, and a 429 there would be a flake, not a finding.
    RATE_LIMIT_PER_SEC: '1000',
    RATE_LIMIT_BURST: '1000',
    ...opts.env,
  };
  const config = loadConfig({ PATH: process.env.PATH, HOME: process.env.HOME, ...childEnv, PORT: '0' });
  const log = createLogger({ level: config.LOG_LEVEL, name: 'offload-test' });
  const database = createDatabase(config.DATABASE_URL!, { max: 5 });
  // As in src/server/index.ts.
  const rateLimitDatabase = createDatabase(config.DATABASE_URL!, {
    max: 2,
    settings: { synchronous_commit: 'off' },
  });
  const temporal = await connectTemporal(config.temporal);
  const storage = createStorage(config);
  // As in src/server/index.ts: DATASETS_FILE (or the demo) checked against its sources.
  const datasets = await openDatasets(config, {
    max: 2,
    appName: 'offload-api',
    statementTimeoutMs: config.API_STATEMENT_TIMEOUT_MS,
  });
  const app = createApp({
    config,
    database,
    rateLimitDatabase,
    temporal: temporal.client,
    storage,
    log,
    datasets,
  });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closeSockets = app.attachServer(server as Server);

  // Links in webhooks and e-mails point at this API.
  childEnv.PUBLIC_URL ??= baseUrl;
  let workers: WorkerProcess[] = [];
  const users: string[] = [];
  const queues = opts.queues ?? ['jobs', 'exports'];
  if (queues.length > 0) workers.push(await startWorkerProcess(queues, childEnv));

  const stopWorkers = async () => {
    await Promise.all(workers.map((w) => w.stop()));
    workers = [];
  };

  return {
    baseUrl,
    config,
    database,
    temporal,
    app,
    storageDir,
    childEnv,
    async newUser(tenant: string, scope: 'user' | 'admin' = 'user') {
      const user = await ensureUser(database.db, `user-${randomUUID().slice(0, 8)}`, tenant);
      const { key } = await createApiKey(database.db, user.id, scope);
      users.push(user.id);
      return { userId: user.id, key };
    },
    createdUsers: () => [...users],
    async cancelActiveJobs(userIds = users) {
      if (userIds.length === 0) return;
      const active = await database.db
        .select()
        .from(jobs)
        .where(and(inArray(jobs.userId, userIds), inArray(jobs.state, ['queued', 'running'])));
      await Promise.all(
        active.map((r) =>
          temporal.client.workflow
            .getHandle(r.workflowId)
            .terminate('test cleanup')
            .catch(() => undefined),
        ),
      );
      if (active.length > 0) {
        await database.db
          .update(jobs)
          .set({ state: 'cancelled' })
          .where(
            inArray(
              jobs.id,
              active.map((r) => r.id),
            ),
          );
      }
    },
    async workflowsStarted(jobIds: string[]) {
      await eventually(async () => {
        const rows = await database.db
          .select({ id: jobs.id })
          .from(jobs)
          .where(and(inArray(jobs.id, jobIds), isNotNull(jobs.workflowStartedAt)));
        return rows.length === jobIds.length ? true : undefined;
      }, 30_000);
    },
    stopWorkers,
    async stop() {
      await stopWorkers();
      await terminateOpenWorkflows(temporal.client, config.TASK_QUEUE_PREFIX);
      closeSockets();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await temporal.close();
      await database.close();
      await rateLimitDatabase.close();
      await datasets.close();
      await ownDatabase?.drop();
    },
  };
}

/** The task queue name of a base queue in this stack (its TASK_QUEUE_PREFIX before it). */
export function stackQueue(stack: Pick<Stack, 'config'>, base: TaskQueue): string {
  return prefixedQueue(stack.config.TASK_QUEUE_PREFIX, base);
}

/**
 * End the workflows a stack left running (a flood of exports, a retention timer), found by the stack's
 * `jobs` queue, so nothing of it keeps running after its file.
 */
export async function terminateOpenWorkflows(client: Client, queuePrefix: string): Promise<void> {
  const query = `ExecutionStatus="Running" AND TaskQueue="${prefixedQueue(queuePrefix, JOBS_QUEUE)}"`;
  for await (const wf of client.workflow.list({ query })) {
    await client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .terminate('test stack stopped')
      .catch(() => undefined); // finished meanwhile
  }
}

/** fetch against the stack with a bearer key. */
export function api(stack: Stack, key: string | undefined) {
  return (p: string, init: RequestInit = {}) =>
    fetch(`${stack.baseUrl}${p}`, {
      ...init,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
}

/** Poll until `check` returns a value, or fail after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
