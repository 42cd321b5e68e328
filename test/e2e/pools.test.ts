/**
 * Separate worker pools through HTTP on the real stack: a worker process serves only the queues it is
 * given, each with its own slots. With only a `jobs` worker up, an export's workflow runs but its heavy
 * activity waits on the `exports` queue; an `exports`-only worker (one slot) then runs the exports, one
 * at a time.
 */
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUserLimits } from '../../src/db/limits-repo.js';
import { jobAttempts, jobs } from '../../src/db/schema.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { seedTenant } from '../helpers/data.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

let stack: Stack;
let exportsWorker: WorkerProcess | undefined;

beforeAll(async () => {
  stack = await startStack({
    queues: ['jobs'],
    env: { EXPORT_PART_ROWS: '100', EXPORT_MAX_ROWS_PER_SEC: '2000' },
  });
});

afterAll(async () => {
  await exportsWorker?.stop();
  await stack?.stop();
});

describe('worker pools', () => {
  it('runs exports only on a worker that serves the exports queue, with that worker’s own slots', async () => {
    const tenant = await seedTenant(stack.database.sql, 200);
    const user = await stack.newUser(tenant);
    await setUserLimits(stack.database.db, user.userId, { maxRunningHeavy: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api(stack, user.key)('/v1/exports', {
        method: 'POST',
        body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
      });
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    // The 202 comes before the workflow start (the relay's, off the request path): wait for the starts.
    await stack.workflowsStarted(ids);
    // The jobs worker ran each workflow up to its heavy activity, which waits: nobody polls `exports`.
    const rows = await stack.database.db.select().from(jobs).where(inArray(jobs.id, ids));
    await eventually(async () => {
      const waiting = await Promise.all(
        rows.map(async (r) => {
          const d = await stack.temporal.client.workflow.getHandle(r.workflowId).describe();
          return (d.raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'exportDataset');
        }),
      );
      return waiting.every(Boolean) ? true : undefined;
    }, 30_000);
    const before = await stack.database.db.select().from(jobs).where(inArray(jobs.id, ids));
    expect(before.map((r) => r.state)).toEqual(['queued', 'queued', 'queued']);

    exportsWorker = await startWorkerProcess(['exports'], { ...stack.childEnv, EXPORTS_CONCURRENCY: '1' });
    await eventually(async () => {
      const done = await stack.database.db.select().from(jobs).where(inArray(jobs.id, ids));
      return done.every((r) => r.state === 'succeeded') ? true : undefined;
    }, 60_000);

    const attempts = await stack.database.db
      .select()
      .from(jobAttempts)
      .where(inArray(jobAttempts.jobId, ids));
    expect(attempts).toHaveLength(3);
    for (const a of attempts) expect(a.worker).toMatch(new RegExp(`:${exportsWorker.pid}$`));
    // One slot on that worker: the exports ran one after another.
    const spans = attempts
      .map((a) => [a.startedAt.getTime(), a.finishedAt!.getTime()] as const)
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  });
});
