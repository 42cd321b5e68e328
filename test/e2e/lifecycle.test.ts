/**
 * The life of a job through HTTP on the real stack: listing with pagination under concurrent inserts,
 * Idempotency-Key, live events shared by many watchers, cancel, dead letters and redrive from the
 * checkpoint, Range/ETag downloads and signed links.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertJob } from '../../src/db/jobs-repo.js';
import { createApiKey } from '../../src/db/users-repo.js';
import { newJobId } from '../../src/lib/ids.js';
import { sharedSecret } from '../../src/db/secrets-repo.js';
import { DOWNLOAD_SECRET, signedDownloadPath } from '../../src/lib/signed-links.js';
import { parseCsv, seedTenant, tenantRowsAsText } from '../helpers/data.js';
import { readSse } from '../helpers/sse.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { withFailingPublish } from '../helpers/failing-publish.js';

interface Job {
  id: string;
  state: string;
  kind: string;
  retryOf: string | null;
  progress: { done: number; total: number | null; state: string };
  result: { rows: number; bytes: number; sha256: string } | null;
  error: { type: string; message: string; attempts: number } | null;
  links: Record<string, string>;
}
interface JobDetail extends Job {
  attemptLog: { attempt: number; startedAt: string; resumedFromRows: number }[];
  retriedBy: string | null;
}
interface Page {
  items: Job[];
  nextCursor: string | null;
  next: string | null;
}

let stack: Stack;
const POLL_MS = 200;

beforeAll(async () => {
  stack = await startStack({
    env: {
      EXPORT_PART_ROWS: '1000',
      EXPORT_MAX_ROWS_PER_SEC: '4000',
      EXPORT_MAX_ATTEMPTS: '2',
      EXPORT_RETRY_INITIAL_MS: '200',
      EVENTS_POLL_INTERVAL_MS: String(POLL_MS),
      EVENTS_KEEPALIVE_MS: '300',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

const exportBody = JSON.stringify({ dataset: 'orders', format: 'csv' });

async function submit(key: string, body = exportBody, headers: Record<string, string> = {}) {
  const res = await api(stack, key)('/v1/exports', { method: 'POST', body, headers });
  return { res, job: (await res.json()) as Job };
}

async function finished(key: string, id: string, timeoutMs = 60_000): Promise<JobDetail> {
  return eventually(async () => {
    const j = (await (await api(stack, key)(`/v1/jobs/${id}`)).json()) as JobDetail;
    return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
  }, timeoutMs);
}

async function jobCount(userId: string): Promise<number> {
  const [row] = await stack.database.sql<
    { n: number }[]
  >`select count(*)::int as n from jobs where user_id = ${userId}`;
  return row!.n;
}

describe('GET /v1/jobs', () => {
  it('pages newest first without duplicates or gaps while jobs are being added, and filters', async () => {
    const tenant = await seedTenant(stack.database.sql, 20);
    const { key } = await stack.newUser(tenant);
    const call = api(stack, key);
    const initial: string[] = [];
    for (let i = 0; i < 7; i++) initial.push((await submit(key)).job.id);

    const seen: string[] = [];
    let url: string | null = '/v1/jobs?limit=3';
    let pages = 0;
    while (url) {
      const page = (await (await call(url)).json()) as Page;
      seen.push(...page.items.map((j) => j.id));
      url = page.next;
      pages++;
      // A job created between pages sorts before the first page, never into a later one.
      if (pages === 1) await submit(key);
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...initial].reverse());

    const all = (await (await call('/v1/jobs?limit=100')).json()) as Page;
    expect(all.items).toHaveLength(8);
    expect(all.next).toBeNull();
    const done = await Promise.all(initial.map((id) => finished(key, id)));
    expect(done.every((j) => j.state === 'succeeded')).toBe(true);

    const succeeded = (await (await call('/v1/jobs?state=succeeded&kind=export&limit=100')).json()) as Page;
    expect(succeeded.items.every((j) => j.state === 'succeeded' && j.kind === 'export')).toBe(true);
    expect(succeeded.items.length).toBeGreaterThanOrEqual(7);
    expect(((await (await call('/v1/jobs?kind=audio')).json()) as Page).items).toEqual([]);
    const future = encodeURIComponent(new Date(Date.now() + 60_000).toISOString());
    expect(((await (await call(`/v1/jobs?createdAfter=${future}`)).json()) as Page).items).toEqual([]);
    const past = encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString());
    expect(
      ((await (await call(`/v1/jobs?createdAfter=${past}&limit=100`)).json()) as Page).items,
    ).toHaveLength(8);

    // Another user sees none of them.
    const other = await stack.newUser(tenant);
    expect(((await (await api(stack, other.key)('/v1/jobs')).json()) as Page).items).toEqual([]);

    for (const bad of [
      'limit=0',
      'limit=abc',
      'state=done',
      'kind=pdf',
      'cursor=xyz',
      'createdAfter=yesterday',
    ]) {
      const res = await call(`/v1/jobs?${bad}`);
      expect(res.status, bad).toBe(422);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const problem = (await res.json()) as { errors: { field: string; in: string }[] };
      expect(problem.errors[0]?.in).toBe('query');
      expect(problem.errors[0]?.field).toBe(bad.split('=')[0]);
    }
  });
});

describe('Idempotency-Key', () => {
  it('returns the same job for concurrent duplicates, 422 for another body, and is scoped to the user', async () => {
    const tenant = await seedTenant(stack.database.sql, 10);
    const user = await stack.newUser(tenant);
    const before = await jobCount(user.userId);
    const headers = { 'idempotency-key': 'order-export-2026-11-28' };
    const results = await Promise.all(Array.from({ length: 6 }, () => submit(user.key, exportBody, headers)));
    const ids = new Set(results.map((r) => r.job.id));
    expect(ids.size).toBe(1);
    expect(results.map((r) => r.res.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
    expect(results.filter((r) => r.res.headers.get('idempotent-replayed') === 'true')).toHaveLength(5);
    expect(await jobCount(user.userId)).toBe(before + 1);
    const [id] = [...ids];
    await finished(user.key, id!);
    // One workflow: a second start would have been a second run in Temporal.
    const runs = stack.temporal.client.workflow.list({ query: `WorkflowId = 'offload-${id}'` });
    let count = 0;
    for await (const _ of runs) count++;
    expect(count).toBe(1);

    // Key order in the body does not matter; a different body does.
    const same = await submit(user.key, JSON.stringify({ format: 'csv', dataset: 'orders' }), headers);
    expect(same.res.status).toBe(200);
    expect(same.job.id).toBe(id);
    const other = await submit(
      user.key,
      JSON.stringify({ dataset: 'orders', format: 'csv', columns: ['id'] }),
      headers,
    );
    expect(other.res.status).toBe(422);
    expect(other.res.headers.get('content-type')).toBe('application/problem+json');
    expect((other.job as unknown as { type: string }).type).toBe('/problems/idempotency-key-reused');
    expect(await jobCount(user.userId)).toBe(before + 1);

    // Another user with the same key gets their own job.
    const second = await stack.newUser(tenant);
    const theirs = await submit(second.key, exportBody, headers);
    expect(theirs.res.status).toBe(202);
    expect(theirs.job.id).not.toBe(id);

    // Keys expire after 24 hours.
    await stack.database.sql`update idempotency_keys set expires_at = now() - interval '1 second'
      where user_id = ${user.userId}`;
    const fresh = await submit(user.key, exportBody, headers);
    expect(fresh.res.status).toBe(202);
    expect(fresh.job.id).not.toBe(id);

    const bad = await submit(user.key, exportBody, { 'idempotency-key': 'x'.repeat(300) });
    expect(bad.res.status).toBe(422);
  });
});

describe('events and cancel', () => {
  it('streams one shared poll to many watchers, resumes with Last-Event-ID, and cancels within seconds', async () => {
    const rows = 60_000; // about 15 s at the rate cap: the cancel must interrupt it
    const tenant = await seedTenant(stack.database.sql, rows);
    const { key } = await stack.newUser(tenant);
    const call = api(stack, key);
    const { job } = await submit(key);
    await eventually(async () => {
      const j = (await (await call(`/v1/jobs/${job.id}`)).json()) as Job;
      return j.state === 'running' && j.progress.done > 0 ? j : undefined;
    });

    // Ten watchers for about two seconds: the API still asks Temporal once per interval.
    // Only this job is watched meanwhile, so the hub's count of progress queries is this job's.
    const before = stack.app.hub.progressQueries;
    const started = Date.now();
    const reads = await Promise.all(
      Array.from({ length: 10 }, async () =>
        readSse(await call(`/v1/jobs/${job.id}/events`), () => Date.now() - started > 2000, 10_000),
      ),
    );
    const elapsed = Date.now() - started;
    const queries = stack.app.hub.progressQueries - before;
    console.log(
      `10 SSE watchers for ${elapsed} ms: ${queries} Temporal progress queries (poll ${POLL_MS} ms)`,
    );
    expect(queries).toBeGreaterThan(0);
    expect(queries).toBeLessThanOrEqual(Math.ceil(elapsed / POLL_MS) + 2);
    for (const r of reads) {
      const progress = r.events.filter((e) => e.event === 'progress');
      expect(progress.length).toBeGreaterThan(0);
      expect(r.events[0]?.event).toBe('state');
      const dones = progress.map((e) => (JSON.parse(e.data) as { done: number }).done);
      expect([...dones].sort((a, b) => a - b)).toEqual(dones);
    }
    // The idle gaps between progress changes carry keep-alive comments.
    expect(reads.some((r) => r.comments.includes('keep-alive'))).toBe(true);

    // Resume: the first event after a reconnect is newer than the last one seen.
    const last = reads[0]!.events.at(-1)!;
    const resumed = await readSse(
      await call(`/v1/jobs/${job.id}/events`, { headers: { 'last-event-id': last.id! } }),
      (r) => r.events.length > 0,
      10_000,
    );
    expect(resumed.events[0]?.id).not.toBe(last.id);
    expect(resumed.events[0]?.event).toBe('progress');

    // Cancel while running, with a watcher open.
    const watcher = call(`/v1/jobs/${job.id}/events`).then((res) => readSse(res, () => false, 20_000));
    const cancelAt = Date.now();
    const cancel = await call(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    const final = await finished(key, job.id, 20_000);
    const cancelMs = Date.now() - cancelAt;
    expect(final.state).toBe('cancelled');
    expect(final.progress.done).toBeLessThan(rows);
    expect(final.result).toBeNull();
    console.log(`cancel took ${cancelMs} ms from request to state cancelled`);
    // The partial output is deleted and nothing more is written.
    await expect(fs.stat(path.join(stack.storageDir, 'parts', job.id))).rejects.toThrow(/ENOENT/);
    const w = await watcher;
    expect(w.closed).toBe(true);
    expect(w.events.at(-1)?.event).toBe('end');
    expect((JSON.parse(w.events.at(-1)!.data) as Job).state).toBe('cancelled');
    expect(w.events.some((e) => e.event === 'state' && e.data.includes('"cancelled"'))).toBe(true);
    // The row reads cancelled before the workflow's epilogue (the notifications) ends: wait for its end.
    const handle = stack.temporal.client.workflow.getHandle(`offload-${job.id}`);
    await handle.result().catch(() => undefined);
    const description = await handle.describe();
    expect(description.status.name).toBe('CANCELLED');
    // The activity itself acknowledged the cancellation (it did not run to completion).
    const { events } = await stack.temporal.client.workflow.getHandle(`offload-${job.id}`).fetchHistory();
    const at = (e: (typeof events & object)[number] | undefined) =>
      Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.round((e?.eventTime?.nanos ?? 0) / 1e6);
    const requested = (events ?? []).find((e) => e.activityTaskCancelRequestedEventAttributes);
    const stopped = (events ?? []).find((e) => e.activityTaskCanceledEventAttributes);
    expect(requested).toBeDefined();
    expect(stopped).toBeDefined();
    console.log(`the export activity stopped ${at(stopped) - at(requested)} ms after the cancel request`);

    // Cancelling a finished job is a conflict naming the current state.
    const again = await call(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
    expect(((await again.json()) as { state: string }).state).toBe('cancelled');

    // A stream on a finished job sends its final state and closes.
    const ended = await readSse(await call(`/v1/jobs/${job.id}/events`), () => false, 10_000);
    expect(ended.closed).toBe(true);
    expect(ended.events.map((e) => e.event)).toEqual(['state', 'progress', 'end']);

    // A cancelled job can be redriven; it starts over (its parts were deleted).
    const retry = await call(`/v1/jobs/${job.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    const redrive = (await retry.json()) as Job;
    expect(redrive.retryOf).toBe(job.id);
    await eventually(async () => {
      const j = (await (await call(`/v1/jobs/${redrive.id}`)).json()) as JobDetail;
      return j.attemptLog.length > 0 ? j : undefined;
    });
    const detail = (await (await call(`/v1/jobs/${redrive.id}`)).json()) as JobDetail;
    expect(detail.attemptLog[0]?.resumedFromRows).toBe(0);
    await call(`/v1/jobs/${redrive.id}/cancel`, { method: 'POST' });
    expect((await finished(key, redrive.id)).state).toBe('cancelled');
  });
});

describe('dead letters and redrive', () => {
  it('fails after the configured attempts, lists the job as a dead letter, and redrives it from its checkpoint', async () => {
    const rows = 3000;
    const tenant = await seedTenant(stack.database.sql, rows);
    const user = await stack.newUser(tenant);
    const call = api(stack, user.key);
    // Every attempt fails after all parts are written and checkpointed.
    const failedJob = await withFailingPublish(stack.storageDir, async () => {
      const { job } = await submit(user.key);
      return finished(user.key, job.id);
    });
    expect(failedJob.state).toBe('failed');
    expect(failedJob.error?.attempts).toBe(2);
    expect(failedJob.error?.type).toBe('Error');
    expect(failedJob.error?.message).toMatch(/ENOTDIR|EEXIST/);
    expect(failedJob.attemptLog.map((a) => a.attempt)).toEqual([1, 2]);
    expect(failedJob.attemptLog.every((a) => !Number.isNaN(Date.parse(a.startedAt)))).toBe(true);
    // The parts stay for the redrive.
    expect((await fs.readdir(path.join(stack.storageDir, 'parts', failedJob.id))).length).toBe(rows / 1000);

    const mine = (await (await call('/v1/jobs?state=failed')).json()) as Page;
    expect(mine.items.map((j) => j.id)).toEqual([failedJob.id]);
    const forbidden = await call('/v1/dead-letters');
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('content-type')).toBe('application/problem+json');
    const admin = await createApiKey(stack.database.db, (await stack.newUser('ops')).userId, 'admin');
    const letters = (await (await api(stack, admin.key)('/v1/dead-letters?limit=100')).json()) as {
      items: (Job & { userId: string })[];
    };
    const letter = letters.items.find((j) => j.id === failedJob.id);
    expect(letter?.userId).toBe(user.userId);
    expect(letters.items.every((j) => j.state === 'failed')).toBe(true);

    const retry = await call(`/v1/jobs/${failedJob.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    const redrive = (await retry.json()) as Job;
    expect(redrive.retryOf).toBe(failedJob.id);
    const done = await finished(user.key, redrive.id);
    expect(done.state).toBe('succeeded');
    // Resumed from the stored checkpoint: every row was already exported, none read again.
    expect(done.attemptLog[0]?.resumedFromRows).toBe(rows);
    const records = parseCsv(await (await call(done.links.download!)).text());
    expect(records.slice(1)).toEqual(await tenantRowsAsText(stack.database.sql, tenant));
    const old = (await (await call(`/v1/jobs/${failedJob.id}`)).json()) as JobDetail;
    expect(old.retriedBy).toBe(redrive.id);

    const twice = await call(`/v1/jobs/${failedJob.id}/retry`, { method: 'POST' });
    expect(twice.status).toBe(409);
    expect(((await twice.json()) as { retriedBy: string }).retriedBy).toBe(redrive.id);
    const notFailed = await call(`/v1/jobs/${redrive.id}/retry`, { method: 'POST' });
    expect(notFailed.status).toBe(409);
    expect(((await notFailed.json()) as { state: string }).state).toBe('succeeded');
  });
});

describe('non-retryable failures', () => {
  it('fails bad input at once, without retrying it', async () => {
    const { userId, key } = await stack.newUser(await seedTenant(stack.database.sql, 10));
    // The API's validation never lets an unknown dataset through, so the job is recorded directly, as a
    // client of an older API version might have left it; the outbox relay starts it.
    const id = newJobId();
    await insertJob(stack.database.db, {
      id,
      userId,
      tenantId: 't-none',
      kind: 'export',
      request: { dataset: 'payroll', format: 'csv' },
      workflowId: `offload-${id}`,
    });
    const done = await finished(key, id);
    expect(done.state).toBe('failed');
    expect(done.error?.type).toBe('UnknownDataset');
    const { events } = await stack.temporal.client.workflow.getHandle(`offload-${id}`).fetchHistory();
    const started = (events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'exportDataset',
    );
    expect(started).toHaveLength(1);
    const attempts = (events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    expect(attempts.every((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) === 1)).toBe(true);
  });
});

describe('downloads', () => {
  it('serves ranges, honours ETags, signs links that work without a key, and answers 410 once expired', async () => {
    const tenant = await seedTenant(stack.database.sql, 500);
    const { key } = await stack.newUser(tenant);
    const call = api(stack, key);
    const { job } = await submit(key);
    const done = await finished(key, job.id);
    const full = Buffer.from(await (await call(done.links.download!)).arrayBuffer());
    expect(full.length).toBe(done.result?.bytes);

    const part = await call(done.links.download!, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${full.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(full.subarray(10, 20));
    const tail = await call(done.links.download!, { headers: { range: 'bytes=-7' } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(full.subarray(full.length - 7));
    const open = await call(done.links.download!, { headers: { range: `bytes=${full.length - 3}-` } });
    expect(Buffer.from(await open.arrayBuffer())).toEqual(full.subarray(full.length - 3));
    const beyond = await call(done.links.download!, { headers: { range: `bytes=${full.length + 5}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${full.length}`);
    const etag = part.headers.get('etag')!;
    expect((await call(done.links.download!, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const stale = await call(done.links.download!, {
      headers: { range: 'bytes=0-4', 'if-range': '"other"' },
    });
    expect(stale.status).toBe(200);

    const link = (await (await call(`/v1/jobs/${job.id}/download-link`, { method: 'POST' })).json()) as {
      url: string;
    };
    const anonymous = await fetch(link.url);
    expect(anonymous.status).toBe(200);
    expect(anonymous.headers.get('content-disposition')).toMatch(/^attachment; filename="/);
    expect(Buffer.from(await anonymous.arrayBuffer())).toEqual(full);
    const ranged = await fetch(link.url, { headers: { range: 'bytes=0-3' } });
    expect(ranged.status).toBe(206);
    const u = new URL(link.url);
    const tampered = [
      link.url.replace(/signature=./, (m) => (m.endsWith('A') ? m.slice(0, -1) + 'B' : m.slice(0, -1) + 'A')),
      link.url.replace(/expires=\d+/, (m) => `expires=${Number(m.slice(8)) + 1}`),
      `${u.origin}/files/${job.id}`,
    ];
    for (const t of tampered) {
      const res = await fetch(t);
      expect(res.status, t).toBe(403);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    const secret = await sharedSecret(stack.database.db, DOWNLOAD_SECRET);
    const expired = await fetch(
      stack.baseUrl + signedDownloadPath(secret, job.id, Math.floor(Date.now() / 1000) - 1),
    );
    expect(expired.status).toBe(403);
    expect(((await expired.json()) as { type: string }).type).toBe('/problems/link-expired');

    // Once the file has expired (retention removed it), both ways answer 410.
    await fs.rm(path.join(stack.storageDir, 'objects', job.id), { recursive: true, force: true });
    expect((await call(done.links.download!)).status).toBe(410);
    expect((await fetch(link.url)).status).toBe(410);
  });
});
