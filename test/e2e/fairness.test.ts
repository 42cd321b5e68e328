/**
 * Fair scheduling through HTTP on the real stack, with two export slots:
 * - Temporal's fairness keys (one per user): user A floods the `exports` queue with 40 exports, then
 *   user B submits one; B's export starts after about two of A's, not after all of them.
 * - The per-user heavy cap: a user limited to one heavy activity runs one export at a time while the
 *   rest stay queued, and another user's export takes the free slot meanwhile.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inArray } from 'drizzle-orm';
import { temporal } from '@temporalio/proto';
import { setUserLimits } from '../../src/db/limits-repo.js';
import { jobAttempts, jobs } from '../../src/db/schema.js';
import { EXPORTS_QUEUE } from '../../src/shared/temporal.js';
import { api, eventually, stackQueue, startStack, type Stack } from '../helpers/stack.js';
import { seedTenant } from '../helpers/data.js';

let stack: Stack;

// Each export reads 300 rows at 600 rows/s in parts of 100: about 0.5 s of work per job.
beforeAll(async () => {
  stack = await startStack({
    env: { EXPORTS_CONCURRENCY: '2', EXPORT_PART_ROWS: '100', EXPORT_MAX_ROWS_PER_SEC: '600' },
  });
});

// A failed test must not leave its exports queued for the next test or the next file's workers.
afterEach(async () => {
  await stack.cancelActiveJobs();
});

afterAll(async () => {
  await stack?.stop();
});

async function submit(key: string): Promise<string> {
  const res = await api(stack, key)('/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function jobRows(ids: string[]) {
  return stack.database.db.select().from(jobs).where(inArray(jobs.id, ids));
}

/** Activity tasks waiting in the exports queue, as Temporal's matching service counts them. */
async function exportsBacklog(): Promise<number> {
  const res = await stack.temporal.client.workflowService.describeTaskQueue({
    namespace: 'default',
    taskQueue: {
      name: stackQueue(stack, EXPORTS_QUEUE),
      kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
    },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    reportStats: true,
  });
  return Number(res.stats?.approximateBacklogCount ?? 0);
}

/**
 * How many of these jobs have their export scheduled but not started: the activity task waits in the
 * queue. (Temporal's backlog count in DescribeTaskQueue is approximate and refreshed lazily.)
 */
async function waitingExports(ids: string[]): Promise<number> {
  const rows = await jobRows(ids);
  const queued = rows.filter((r) => r.state === 'queued');
  const pending = await Promise.all(
    queued.map(async (r) => {
      const d = await stack.temporal.client.workflow.getHandle(r.workflowId).describe();
      return (d.raw.pendingActivities ?? []).some(
        (a) => a.activityType?.name === 'exportDataset' && a.attempt === 1 && !a.lastStartedTime,
      );
    }),
  );
  return pending.filter(Boolean).length;
}

describe('fair scheduling', () => {
  it("starts B's single export after about two of A's 40, not after all of them", async () => {
    const tenant = await seedTenant(stack.database.sql, 300);
    const a = await stack.newUser(tenant);
    const b = await stack.newUser(tenant);
    // A may run all 40 at once as far as offload's own cap goes: only Temporal's dispatch decides.
    await setUserLimits(stack.database.db, a.userId, { maxRunningHeavy: 100 });

    const aJobs: string[] = [];
    for (let i = 0; i < 40; i++) aJobs.push(await submit(a.key));
    // The 202 comes before the workflow start (the relay's, off the request path): wait for the starts.
    await stack.workflowsStarted(aJobs);
    // Every one of A's activity tasks is in the queue before B asks: two run, the rest wait.
    await eventually(async () => ((await waitingExports(aJobs)) >= 25 ? true : undefined), 30_000, 100);
    expect(await exportsBacklog()).toBeGreaterThan(0);

    const bJob = await submit(b.key);
    const { startedAt: bStarted, workflowId } = await eventually(async () => {
      const [row] = await jobRows([bJob]);
      return row?.startedAt ? { startedAt: row.startedAt, workflowId: row.workflowId } : undefined;
    }, 60_000);
    // When B's export entered the queue (Temporal and PostgreSQL run on this machine's clock).
    const { events } = await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = events?.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'exportDataset',
    )?.eventTime;
    expect(scheduled).toBeDefined();
    const bQueued = new Date(Number(scheduled!.seconds) * 1000 + Math.floor((scheduled!.nanos ?? 0) / 1e6));
    const aRows = await jobRows(aJobs);
    const between = (t: Date | null) => t !== null && t > bQueued && t < bStarted;
    const aStartedWhileBWaited = aRows.filter((r) => between(r.startedAt)).length;
    const aNotStartedWhenBStarted = aRows.filter((r) => !r.startedAt || r.startedAt > bStarted).length;

    // FIFO would run every one of A's waiting exports before B's. With fairness B's export takes one of
    // the next free slots: at most one more of A's starts in the other slot meanwhile (two with a race).
    expect(aNotStartedWhenBStarted).toBeGreaterThanOrEqual(20);
    expect(aStartedWhileBWaited).toBeLessThanOrEqual(2);

    // And A's jobs all finish too.
    await eventually(
      async () => {
        const rows = await jobRows(aJobs);
        return rows.every((r) => r.state === 'succeeded') ? true : undefined;
      },
      60_000,
      250,
    );
  });

  it('runs a user limited to one heavy activity one export at a time, and lets another user use the other slot', async () => {
    const tenant = await seedTenant(stack.database.sql, 300);
    const c = await stack.newUser(tenant);
    const d = await stack.newUser(tenant);
    await setUserLimits(stack.database.db, c.userId, { maxRunningHeavy: 1 });

    const cJobs = [await submit(c.key), await submit(c.key), await submit(c.key)];
    // While C's first runs, the other two stay queued.
    await eventually(
      async () => {
        const rows = await jobRows(cJobs);
        const running = rows.filter((r) => r.state === 'running').length;
        const queued = rows.filter((r) => r.state === 'queued').length;
        return running === 1 && queued === 2 ? true : undefined;
      },
      30_000,
      20,
    );
    const dJob = await submit(d.key);

    await eventually(
      async () => {
        const rows = await jobRows([...cJobs, dJob]);
        return rows.every((r) => r.state === 'succeeded') ? true : undefined;
      },
      60_000,
      100,
    );

    const attempts = await stack.database.db
      .select()
      .from(jobAttempts)
      .where(inArray(jobAttempts.jobId, [...cJobs, dJob]));
    const interval = (id: string) => {
      const at = attempts.find((x) => x.jobId === id)!;
      return [at.startedAt.getTime(), at.finishedAt!.getTime()] as const;
    };
    const cIntervals = cJobs.map(interval).sort((x, y) => x[0] - y[0]);
    // C's exports never overlapped.
    for (let i = 1; i < cIntervals.length; i++) {
      expect(cIntervals[i]![0]).toBeGreaterThanOrEqual(cIntervals[i - 1]![1]);
    }
    // D did not wait for C's queue: it ran alongside one of C's exports, before C's last one started.
    const [dStart, dEnd] = interval(dJob);
    expect(dStart).toBeLessThan(cIntervals[2]![0]);
    expect(cIntervals.some(([s, e]) => s < dEnd && dStart < e)).toBe(true);
  });
});
