/**
 * Retention on the time-skipping test server: a finished export starts its retention timer; seven
 * days later (skipped in a moment) the real record-keeping activity deletes the file from storage and
 * the job becomes `expired`, recorded in its events.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createJobRecordActivities,
  createNotifyActivities,
  type ExportActivities,
} from '../../src/activities/index.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { getJob, insertJob, listJobEvents } from '../../src/db/jobs-repo.js';
import { ensureUser } from '../../src/db/users-repo.js';
import { newJobId } from '../../src/lib/ids.js';
import { createLogger } from '../../src/lib/logger.js';
import type { ExportResult, ExportWorkflowInput } from '../../src/shared/jobs.js';
import {
  EXPORTS_QUEUE,
  JOBS_QUEUE,
  retentionWorkflowId,
  workflowIdForJob,
  WorkflowType,
} from '../../src/shared/temporal.js';
import { LocalStorage } from '../../src/storage/local.js';
import { startTimeSkippingEnv } from '../helpers/time-skipping.js';
import { NO_TRACING } from '../../src/lib/tracing.js';
import { tracingOptions } from '../../src/worker/create-workers.js';

const DAY = 24 * 3_600_000;

let env: TestWorkflowEnvironment;
let database: Database;
let storage: LocalStorage;
let workers: Worker[] = [];
let running: Promise<unknown>;

beforeAll(async () => {
  env = await startTimeSkippingEnv();
  database = createDatabase(inject('databaseUrl'), { max: 2 });
  storage = new LocalStorage(path.join(inject('scratchDir'), `retention-${randomUUID()}`));
  const log = createLogger({ level: 'silent', name: 'retention-test' });
  const deps = {
    database,
    storage,
    log,
    workerName: 'test',
    // No callback and no e-mail on these jobs: planning the end-of-job notifications finds nothing to send.
    notify: {
      publicUrl: 'http://127.0.0.1:1',
      linkTtlSeconds: 3600,
      net: { allowPrivate: false, allowHosts: [] },
      webhookTimeoutMs: 1000,
      mailFrom: 'offload <offload@localhost>',
    },
  };
  // The heavy activity stands in for a real export: it publishes a small file and returns its result.
  const heavy: ExportActivities = {
    async exportDataset(input) {
      await storage.writePart(input.jobId, 0, Readable.from([Buffer.from('id\n1\n')]));
      const key = `${input.jobId}/result.csv`;
      const published = await storage.publish(input.jobId, key, 1);
      return {
        storageKey: key,
        fileName: 'result.csv',
        contentType: 'text/csv; charset=utf-8',
        bytes: published.bytes,
        rows: 1,
        sha256: published.sha256,
      } satisfies ExportResult;
    },
  };
  workers = [
    await Worker.create({
      connection: env.nativeConnection,
      taskQueue: JOBS_QUEUE,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      activities: { ...createJobRecordActivities(deps), ...createNotifyActivities(deps) },
      ...tracingOptions(NO_TRACING),
    }),
    await Worker.create({ connection: env.nativeConnection, taskQueue: EXPORTS_QUEUE, activities: heavy }),
  ];
  running = Promise.all(workers.map((w) => w.run()));
});

afterAll(async () => {
  for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  await running;
  await env?.teardown();
  await database?.close();
});

describe('retention', () => {
  it('deletes the file and marks the job expired once the retention period is over', async () => {
    const user = await ensureUser(database.db, `retention-${randomUUID()}`, 'tenant-retention');
    const id = newJobId();
    const request = { dataset: 'orders', format: 'csv' as const };
    await insertJob(database.db, {
      id,
      userId: user.id,
      tenantId: user.tenantId,
      kind: 'export',
      request,
      workflowId: workflowIdForJob(id),
    });
    const input: ExportWorkflowInput = {
      jobId: id,
      userId: user.id,
      tenantId: user.tenantId,
      request,
      policy: {
        heartbeatTimeoutMs: 10_000,
        startToCloseTimeoutMs: 60_000,
        maxAttempts: 1,
        initialRetryIntervalMs: 1000,
        maxRetryIntervalMs: 1000,
      },
      retentionMs: 7 * DAY,
    };
    const startedAt = await env.currentTimeMs();
    const result = (await env.client.workflow.execute(WorkflowType.export, {
      workflowId: workflowIdForJob(id),
      taskQueue: JOBS_QUEUE,
      args: [input],
    })) as ExportResult;

    // Published and downloadable: the retention workflow is waiting.
    expect((await getJob(database.db, id))?.state).toBe('succeeded');
    expect(await storage.stat(result.storageKey)).toBeDefined();
    const retention = env.client.workflow.getHandle(retentionWorkflowId(id));
    expect((await retention.describe()).status.name).toBe('RUNNING');

    // result() lets the test server skip time until the timer fires.
    await retention.result();
    expect((await env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(7 * DAY);
    expect(await storage.stat(result.storageKey)).toBeUndefined();
    const job = await getJob(database.db, id);
    expect(job?.state).toBe('expired');
    const events = (await listJobEvents(database.db, id)).map((e) => e.state);
    expect(events).toEqual(['queued', 'succeeded', 'expired']);
  });
});
