/**
 * Limits through HTTP on the real stack (no workers: submitted jobs stay queued): the per-user rate limit
 * shared by two API processes, the per-user cap on active jobs, the global heavy backlog (503), the
 * priority a key may use, and API keys made, listed and revoked with `npm run keys`.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUserLimits } from '../../src/db/limits-repo.js';
import { jobs } from '../../src/db/schema.js';
import { createLogger } from '../../src/lib/logger.js';
import { startOutboxRelay } from '../../src/outbox/relay.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const stacks: Stack[] = [];
const EXPORT = { method: 'POST', body: JSON.stringify({ dataset: 'orders', format: 'csv' }) };

/** A stack with these settings; after the first, each shares the first one's database (one backlog). */
async function stackWith(env: Record<string, string>): Promise<Stack> {
  const databaseUrl = stacks[0]?.childEnv.DATABASE_URL;
  const s = await startStack({ queues: [], env, services: databaseUrl ? { databaseUrl } : undefined });
  stacks.push(s);
  return s;
}

let main: Stack;

beforeAll(async () => {
  main = await stackWith({ RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_SEC: '1', USER_MAX_ACTIVE_JOBS: '3' });
});

afterAll(async () => {
  // Nothing here may run later on another file's workers, nor count as backlog there.
  const users = stacks.flatMap((s) => s.createdUsers());
  await main?.cancelActiveJobs(users);
  for (const s of stacks.reverse()) await s.stop();
});

describe('request rate limit', () => {
  it('answers 429 with Retry-After and RateLimit headers once the bucket is empty, per user, across API processes', async () => {
    const second = await stackWith({ RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_SEC: '1' });
    const user = await main.newUser('t-rate');
    const other = await main.newUser('t-rate');
    const viaFirst = api(main, user.key);
    const viaSecond = api(second, user.key);

    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await (i % 2 === 0 ? viaFirst : viaSecond)('/v1/jobs/job_00000000000000000000000000');
      expect(res.status).toBe(404);
      expect(res.headers.get('ratelimit-policy')).toBe('"per-user";q=5;w=5');
      remaining.push(Number(/;r=(\d+);/.exec(res.headers.get('ratelimit') ?? '')?.[1]));
    }
    // One bucket for both processes: 4, 3, 2, 1, 0 left (a token may refill during the loop).
    expect(remaining[0]).toBe(4);
    expect(remaining.at(-1)).toBeLessThanOrEqual(1);

    let refused: Response | undefined;
    for (let i = 0; i < 3 && !refused; i++) {
      const res = await viaSecond('/v1/jobs/job_00000000000000000000000000');
      if (res.status === 429) refused = res;
    }
    expect(refused?.status).toBe(429);
    expect(refused!.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused!.headers.get('ratelimit')).toMatch(/^"per-user";r=0;t=\d+$/);
    expect(((await refused!.json()) as { type: string }).type).toBe('/problems/rate-limited');

    // Another user's bucket is untouched.
    const res = await api(main, other.key)('/v1/jobs/job_00000000000000000000000000');
    expect(res.status).toBe(404);
    expect(res.headers.get('ratelimit')).toMatch(/^"per-user";r=4;/);
  });
});

describe('active-job cap', () => {
  it('refuses a submission beyond the cap with 429 and the current count, per user and configurable per user', async () => {
    const user = await main.newUser('t-cap');
    const call = api(main, user.key);
    for (let i = 0; i < 3; i++) expect((await call('/v1/exports', EXPORT)).status).toBe(202);
    const refused = await call('/v1/exports', EXPORT);
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { type: string; active: number; limit: number; detail: string };
    expect(body).toMatchObject({ type: '/problems/too-many-active-jobs', active: 3, limit: 3 });
    expect(body.detail).toContain('3 jobs queued or running');
    // Rate-limit headers are on the refusal too.
    expect(refused.headers.get('ratelimit')).toMatch(/^"per-user";r=\d+;t=\d+$/);

    // Raised for this user only: one more goes through, then the new cap holds.
    await setUserLimits(main.database.db, user.userId, { maxActiveJobs: 4 });
    await new Promise((r) => setTimeout(r, 1100)); // one token back in the 1/s bucket
    expect((await call('/v1/exports', EXPORT)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1100));
    const again = await call('/v1/exports', EXPORT);
    expect(again.status).toBe(429);
    expect(await again.json()).toMatchObject({ active: 4, limit: 4 });

    // A finished job frees a place.
    await main.database.db
      .update(jobs)
      .set({ state: 'succeeded' })
      .where(
        eq(jobs.id, (await main.database.db.select().from(jobs).where(eq(jobs.userId, user.userId)))[0]!.id),
      );
    await new Promise((r) => setTimeout(r, 1100));
    expect((await call('/v1/exports', EXPORT)).status).toBe(202);
  });
});

describe('redrive admission', () => {
  it('refuses a redrive beyond the active-job cap with the same 429 as a new job, and admits it once a place is free', async () => {
    const user = await main.newUser('t-cap-redrive');
    await setUserLimits(main.database.db, user.userId, { maxActiveJobs: 1 });
    const call = api(main, user.key);
    const first = (await (await call('/v1/exports', EXPORT)).json()) as { id: string };
    // No workers here: the job is failed by hand, as a dead letter would be.
    await main.database.db.update(jobs).set({ state: 'failed' }).where(eq(jobs.id, first.id));
    const second = await call('/v1/exports', EXPORT);
    expect(second.status).toBe(202);
    const { id: secondId } = (await second.json()) as { id: string };

    const refusedNew = await call('/v1/exports', EXPORT);
    const refusedRedrive = await call(`/v1/jobs/${first.id}/retry`, { method: 'POST' });
    expect(refusedNew.status).toBe(429);
    expect(refusedRedrive.status).toBe(429);
    expect(refusedRedrive.headers.get('content-type')).toBe('application/problem+json');
    const expected = { type: '/problems/too-many-active-jobs', status: 429, active: 1, limit: 1 };
    expect(await refusedNew.json()).toMatchObject(expected);
    expect(await refusedRedrive.json()).toMatchObject(expected);
    expect(await main.database.db.select().from(jobs).where(eq(jobs.retryOf, first.id))).toEqual([]);

    await main.database.db.update(jobs).set({ state: 'succeeded' }).where(eq(jobs.id, secondId));
    await new Promise((r) => setTimeout(r, 1100)); // one token back in the 1/s bucket
    const redrive = await call(`/v1/jobs/${first.id}/retry`, { method: 'POST' });
    expect(redrive.status).toBe(202);
    expect(await redrive.json()).toMatchObject({ retryOf: first.id, state: 'queued' });
  });
});

describe('global backpressure', () => {
  it('answers new heavy submissions 503 with Retry-After once the queued backlog is full; reads stay 200', async () => {
    const [row] = await main.database.db
      .select({ n: sql<number>`count(*)::int` })
      .from(jobs)
      .where(eq(jobs.state, 'queued'));
    const s = await stackWith({ HEAVY_BACKLOG_MAX: String((row?.n ?? 0) + 2) });
    const a = await s.newUser('t-bp');
    const b = await s.newUser('t-bp');
    const first = await api(s, a.key)('/v1/exports', EXPORT);
    expect(first.status).toBe(202);
    expect((await api(s, b.key)('/v1/exports', EXPORT)).status).toBe(202);

    const refused = await api(s, b.key)('/v1/exports', EXPORT);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ type: '/problems/overloaded', limit: (row?.n ?? 0) + 2 });

    const { id } = (await first.json()) as { id: string };
    expect((await api(s, a.key)(`/v1/jobs/${id}`)).status).toBe(200);
    expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
  });
});

describe('priority', () => {
  it('gives a job the priority asked for within what the key may use, and names the field otherwise', async () => {
    const s = await stackWith({ USER_HIGHEST_PRIORITY: '2' });
    const user = await s.newUser('t-prio');
    const call = api(s, user.key);
    const ok = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv', priority: 2 }),
    });
    expect(ok.status).toBe(202);
    const job = (await ok.json()) as { priority: number; workflowId: string };
    expect(job.priority).toBe(2);
    // The workflow start follows the 202: this file runs no workers, so a relay here starts it.
    const relay = await startOutboxRelay({
      config: s.config,
      database: s.database,
      temporal: s.temporal.client,
      log: createLogger({ level: 'silent', name: 'limits-test' }),
    });
    const described = await eventually(() =>
      s.temporal.client.workflow
        .getHandle(job.workflowId)
        .describe()
        .catch(() => undefined),
    ).finally(() => relay.stop());
    expect(described.raw.workflowExecutionInfo?.priority).toMatchObject({
      priorityKey: 2,
      fairnessKey: user.userId,
    });

    const dflt = (await (await call('/v1/exports', EXPORT)).json()) as { priority: number };
    expect(dflt.priority).toBe(3);

    const tooHigh = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv', priority: 1 }),
    });
    expect(tooHigh.status).toBe(422);
    const problem = (await tooHigh.json()) as { errors: { field: string; reason: string }[] };
    expect(problem.errors[0]).toMatchObject({ field: 'priority' });
    expect(problem.errors[0]!.reason).toContain('2 (highest)');

    const outOfRange = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv', priority: 9 }),
    });
    expect(outOfRange.status).toBe(422);

    // A user allowed priority 1 may use it.
    await setUserLimits(s.database.db, user.userId, { highestPriority: 1 });
    const top = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv', priority: 1 }),
    });
    expect(top.status).toBe(202);
  });
});

describe('npm run keys', () => {
  const keys = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: main.childEnv.DATABASE_URL! },
    });

  it('creates a key shown once, lists it by prefix, and a revoked key is refused at once', async () => {
    const name = `cli-${Date.now()}`;
    const created = await keys('create', '--user', name, '--tenant', 't-cli');
    const key = created.stdout.trim();
    const prefix = /prefix (\S+)\)/.exec(created.stderr)?.[1];
    expect(prefix).toBeDefined();
    expect(key.startsWith(`ofk_${prefix}_`)).toBe(true);

    const call = api(main, key);
    expect((await call('/v1/jobs/job_00000000000000000000000000')).status).toBe(404);

    const listed = (await keys('list', '--user', name)).stdout;
    expect(listed).toContain(prefix);
    expect(listed).toContain('active');
    expect(listed).not.toContain(key); // the secret is never shown again

    await keys('revoke', prefix!);
    const refused = await call('/v1/jobs/job_00000000000000000000000000');
    expect(refused.status).toBe(401);
    expect((await keys('list', '--user', name)).stdout).toMatch(/revoked/);
  });
});
