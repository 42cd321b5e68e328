/**
 * The API records a job and answers; the outbox relay (in the workers that serve `jobs`) starts its
 * workflow. Nothing between the two may lose the job or start it twice: the insert wakes the relay, a relay
 * that cannot reach Temporal leaves the job for a later round, two relays never start one job twice, a
 * second start is a no-op, and a workflow whose job row does not exist does no work. Until its workflow
 * starts, a job reads `queued` and can be cancelled. This file's workers run no relay
 * (OUTBOX_RELAY=false): each test runs the relays it needs in this process.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJob, insertJob, listAttempts } from '../../src/db/jobs-repo.js';
import { newJobId } from '../../src/lib/ids.js';
import { createLogger } from '../../src/lib/logger.js';
import { startOutboxRelay, type OutboxRelay } from '../../src/outbox/relay.js';
import { JobStarter } from '../../src/outbox/starter.js';
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
const log = createLogger({ level: 'silent', name: 'outbox-test' });

beforeAll(async () => {
  stack = await startStack({ env: { OUTBOX_RELAY: 'false' } });
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

/** A job row as the API writes it, whose workflow nobody started yet. */
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

/** A relay in this process on the stack's database and Temporal (or the given client). */
function relay(opts: { temporal?: Client; pollMs?: number } = {}): Promise<OutboxRelay> {
  const config = { ...stack.config, OUTBOX_SWEEP_INTERVAL_MS: opts.pollMs ?? 600_000 };
  return startOutboxRelay({
    config,
    database: stack.database,
    temporal: opts.temporal ?? stack.temporal.client,
    log,
  });
}

async function succeeded(id: string) {
  return eventually(async () => {
    const row = await getJob(stack.database.db, id);
    return row?.state === 'succeeded' ? row : undefined;
  }, 60_000);
}

/** A Temporal client that reaches nothing, failing fast (no SDK retries left pending after close). */
function deadTemporal() {
  const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '500ms', interceptors: [] });
  return { client: new Client({ connection }), close: () => connection.close().catch(() => undefined) };
}

describe('job outbox', () => {
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
    // A relay round does not start a cancelled job.
    const r = await relay();
    await r.drain();
    await r.stop();
    expect(await workflowExists(job.workflowId)).toBe(false);
    // A start that was on its way when the cancel came lands afterwards: its workflow is cancelled too.
    await new JobStarter({ config: stack.config, temporal: stack.temporal.client }).start(
      job,
      stack.database.db,
    );
    const handle = stack.temporal.client.workflow.getHandle(job.workflowId);
    await eventually(async () => {
      const { status: wf } = await handle.describe();
      return wf.name === 'CANCELLED' ? wf : undefined;
    });
    const row = await getJob(stack.database.db, id);
    expect(row?.state).toBe('cancelled');
    expect(row?.result).toBeNull();
  });

  it('answers 202 without Temporal; a relay that cannot reach it leaves the job, one that can starts it', async () => {
    // The API records jobs without talking to Temporal: an instance whose Temporal is down accepts them.
    const down = deadTemporal();
    const downApp = createApp({
      config: stack.config,
      database: stack.database,
      temporal: down.client,
      storage: new LocalStorage(stack.storageDir),
      log,
    });
    const res = await downApp.app.request('/v1/exports', {
      method: 'POST',
      headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect((await getJob(stack.database.db, id))?.state).toBe('queued');

    const blind = await relay({ temporal: down.client });
    expect(await blind.drain()).toBe(0);
    await blind.stop();
    await down.close();
    expect((await getJob(stack.database.db, id))?.workflowStartedAt).toBeNull();

    const live = await relay();
    try {
      expect(await live.drain()).toBe(1);
    } finally {
      await live.stop();
    }
    expect((await succeeded(id)).attempts).toBe(1);
    expect(await listAttempts(stack.database.db, id)).toHaveLength(1);
  });

  it('starts a recorded job when its insert commits, without waiting for the next round', async () => {
    // The round interval is ten minutes here: only the insert's notification can wake the relay.
    const live = await relay({ pollMs: 600_000 });
    try {
      const res = await api(stack, user.key)('/v1/exports', {
        method: 'POST',
        body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      await stack.workflowsStarted([id]);
      expect((await succeeded(id)).result).toMatchObject({ rows: 1000 });
    } finally {
      await live.stop();
    }
  });

  it('never starts one job twice: two relays share the jobs, and a second start is a no-op', async () => {
    const recorded = await Promise.all(Array.from({ length: 6 }, () => recordUnstartedExport()));
    const [a, b] = await Promise.all([relay(), relay()]);
    try {
      const [na, nb] = await Promise.all([a.drain(), b.drain()]);
      expect(na + nb).toBe(recorded.length);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const starter = new JobStarter({ config: stack.config, temporal: stack.temporal.client });
    const first = recorded[0]!;
    const { runId } = await stack.temporal.client.workflow.getHandle(first.workflowId).describe();
    await Promise.all([starter.start(first, stack.database.db), starter.start(first, stack.database.db)]);
    expect((await stack.temporal.client.workflow.getHandle(first.workflowId).describe()).runId).toBe(runId);
    for (const job of recorded) {
      expect((await succeeded(job.id)).result).toMatchObject({ rows: 1000 });
      expect(await listAttempts(stack.database.db, job.id)).toHaveLength(1);
    }
  }, 120_000);

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
