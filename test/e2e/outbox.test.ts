/**
 * The API records a job and answers, then starts its workflow off the request path. A crash or a failed
 * start between the two must neither lose the job nor leave a workflow without a job: the outbox sweeper
 * starts recorded-but-unstarted jobs, a second start is a no-op, and a workflow whose job row does not
 * exist does no work. Until its workflow starts, a job reads `queued` and can be cancelled.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJob, insertJob, listAttempts } from '../../src/db/jobs-repo.js';
import { newJobId } from '../../src/lib/ids.js';
import { createLogger } from '../../src/lib/logger.js';
import { createApp } from '../../src/server/app.js';
import { heavyPolicy } from '../../src/kinds/kind.js';
import { EXPORTS_QUEUE, JOBS_QUEUE, WorkflowType, workflowIdForJob } from '../../src/shared/temporal.js';
import { LocalStorage } from '../../src/storage/local.js';
import { readSse } from '../helpers/sse.js';
import { api, eventually, stackQueue, startStack, type Stack } from '../helpers/stack.js';
import { seedTenant } from '../helpers/data.js';

let stack: Stack;
let tenant: string;
let user: { userId: string; key: string };

beforeAll(async () => {
  stack = await startStack();
  tenant = await seedTenant(stack.database.sql, 1000);
  user = await stack.newUser(tenant);
});

afterAll(async () => {
  await stack?.stop();
});

async function workflowExists(workflowId: string): Promise<boolean> {
  try {
    await stack.temporal.client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** A job row as the API writes it, whose workflow nobody started (the API died, or has not yet). */
async function recordUnstartedExport() {
  const id = newJobId();
  return insertJob(stack.database.db, {
    id,
    userId: user.userId,
    tenantId: tenant,
    kind: 'export',
    request: { dataset: 'orders', format: 'csv' },
    workflowId: workflowIdForJob(id),
  });
}

describe('job outbox', () => {
  it('starts a job whose API died between recording it and starting its workflow', async () => {
    const job = await recordUnstartedExport();
    const { id } = job;
    expect(await workflowExists(job.workflowId)).toBe(false);

    expect(await stack.app.starter.sweep(0)).toBeGreaterThanOrEqual(1);
    expect(await workflowExists(job.workflowId)).toBe(true);
    // A second sweep, or a concurrent start, does not start it again.
    await Promise.all([stack.app.starter.start(job), stack.app.starter.start(job)]);
    expect(await stack.app.starter.sweep(0)).toBe(0);

    const done = await eventually(async () => {
      const row = await getJob(stack.database.db, id);
      return row?.state === 'succeeded' ? row : undefined;
    }, 60_000);
    expect(done.result && 'rows' in done.result ? done.result.rows : undefined).toBe(1000);
    expect(await listAttempts(stack.database.db, id)).toHaveLength(1);
  });

  it('accepts jobs while Temporal is unreachable and runs them once it answers', async () => {
    // An API instance whose Temporal is down: the start fails, the job must still be recorded.
    // Without the SDK's gRPC retries the start fails within the connect timeout, before the close below:
    // a retry timer still pending then fires on the closed channel and throws an uncaught error.
    const deadConnection = Connection.lazy({
      address: '127.0.0.1:1',
      connectTimeout: '500ms',
      interceptors: [],
    });
    const down = createApp({
      config: stack.config,
      database: stack.database,
      temporal: new Client({ connection: deadConnection }),
      storage: new LocalStorage(stack.storageDir),
      log: createLogger({ level: 'silent', name: 'test' }),
    });
    const started = Date.now();
    const res = await down.app.request('/v1/exports', {
      method: 'POST',
      headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    expect(res.status).toBe(202);
    expect(Date.now() - started).toBeLessThan(5000);
    const { id } = (await res.json()) as { id: string };
    const recorded = await getJob(stack.database.db, id);
    expect(recorded?.state).toBe('queued');
    expect(recorded?.workflowStartedAt).toBeNull();
    // The POST did not wait for the start: it fails off the request path, before the close below.
    await down.starter.settled();
    expect((await getJob(stack.database.db, id))?.workflowStartedAt).toBeNull();
    await deadConnection.close().catch(() => {});

    // The healthy API's sweeper picks it up.
    await stack.app.starter.sweep(0);
    const call = api(stack, user.key);
    const done = await eventually(async () => {
      const body = (await (await call(`/v1/jobs/${id}`)).json()) as { state: string };
      return body.state === 'succeeded' ? body : undefined;
    }, 60_000);
    expect(done.state).toBe('succeeded');
  });

  it('reads a job whose workflow has not started as queued, in status and events, and cancels it', async () => {
    const job = await recordUnstartedExport();
    const { id } = job;
    const call = api(stack, user.key);
    const status = await call(`/v1/jobs/${id}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ state: 'queued', progress: { state: 'queued', done: 0 } });
    const events = await readSse(await call(`/v1/jobs/${id}/events`), (r) => r.events.length >= 2, 10_000);
    expect(events.events.map((e) => e.event)).toEqual(['state', 'progress']);
    expect(JSON.parse(events.events[0]!.data)).toMatchObject({ jobId: id, state: 'queued' });

    const cancel = await call(`/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    expect(((await cancel.json()) as { state: string }).state).toBe('cancelled');
    expect(await stack.app.starter.sweep(0)).toBe(0);
    // A start that was on its way when the cancel came lands afterwards: its workflow is cancelled too.
    await stack.app.starter.start(job);
    const handle = stack.temporal.client.workflow.getHandle(job.workflowId);
    await eventually(async () => {
      const { status: wf } = await handle.describe();
      return wf.name === 'CANCELLED' ? wf : undefined;
    });
    const row = await getJob(stack.database.db, id);
    expect(row?.state).toBe('cancelled');
    expect(row?.result).toBeNull();
  });

  it('does no work for a workflow whose job was never recorded', async () => {
    const id = newJobId();
    const handle = await stack.temporal.client.workflow.start(WorkflowType.export, {
      workflowId: workflowIdForJob(id),
      taskQueue: stackQueue(stack, JOBS_QUEUE),
      args: [
        {
          jobId: id,
          userId: user.userId,
          tenantId: tenant,
          request: { dataset: 'orders', format: 'csv' },
          policy: heavyPolicy(stack.config, 'EXPORT'),
          heavyQueue: stackQueue(stack, EXPORTS_QUEUE),
        },
      ],
    });
    const err: unknown = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as { type?: string }).type).toBe('JobNotFound');
    expect(await getJob(stack.database.db, id)).toBeUndefined();
    expect(await listAttempts(stack.database.db, id)).toHaveLength(0);
    await expect(fs.readdir(path.join(stack.storageDir, 'objects', id))).rejects.toThrow();
  });
});
