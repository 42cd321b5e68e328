/** An export through HTTP on the real stack: 202, progress, download, and the file equals the tenant's rows. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXACT_COUNT_CAP } from '../../src/datasets/estimate.js';
import { listJobEvents } from '../../src/db/jobs-repo.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { parseCsv, seedTenant, tenantRowsAsText } from '../helpers/data.js';

interface JobBody {
  id: string;
  state: string;
  progress: { done: number; total: number | null; percent: number; state: string };
  result: { rows: number; bytes: number; sha256: string } | null;
  links: { self: string; events: string; download: string; cancel: string };
  request: { estimate?: { rows: { value: number; method: string } } };
}

let stack: Stack;
let tenant: string;
let key: string;
const ROWS = 30_000;

beforeAll(async () => {
  // Small parts and a read-rate cap make the export take a few seconds, so progress can be watched.
  stack = await startStack({ env: { EXPORT_PART_ROWS: '2000', EXPORT_MAX_ROWS_PER_SEC: '10000' } });
  tenant = await seedTenant(stack.database.sql, ROWS);
  key = (await stack.newUser(tenant)).key;
  await seedTenant(stack.database.sql, 500); // another tenant's rows must never appear
});

afterAll(async () => {
  await stack?.stop();
});

describe('POST /v1/exports → download', () => {
  it('answers 202 at once, shows rising progress, and serves a CSV equal to the tenant rows', async () => {
    const call = api(stack, key);
    const started = Date.now();
    const res = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as JobBody;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(job.id).toMatch(/^job_/);
    expect(job.state).toBe('queued');
    expect(res.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    expect(job.links).toEqual({
      self: `/v1/jobs/${job.id}`,
      events: `/v1/jobs/${job.id}/events`,
      download: `/v1/jobs/${job.id}/download`,
      cancel: `/v1/jobs/${job.id}/cancel`,
      retry: `/v1/jobs/${job.id}/retry`,
      deliveries: `/v1/jobs/${job.id}/deliveries`,
    });

    const seen: number[] = [];
    const final = await eventually(
      async () => {
        const body = (await (await call(job.links.self)).json()) as JobBody;
        if (body.state === 'running') seen.push(body.progress.done);
        return body.state === 'succeeded' || body.state === 'failed' ? body : undefined;
      },
      60_000,
      150,
    );
    expect(final.state).toBe('succeeded');
    // Progress was seen mid-way and only ever rose.
    const midway = seen.filter((d) => d > 0 && d < ROWS);
    expect(midway.length).toBeGreaterThan(0);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(final.progress.percent).toBe(100);
    expect(final.result?.rows).toBe(ROWS);

    const download = await call(job.links.download);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(download.headers.get('content-disposition')).toBe(
      `attachment; filename="orders-${job.id}.csv"; filename*=UTF-8''orders-${job.id}.csv`,
    );
    const text = await download.text();
    expect(Buffer.byteLength(text)).toBe(final.result?.bytes);
    const records = parseCsv(text);
    expect(records[0]).toEqual([
      'id',
      'customer',
      'email',
      'country',
      'status',
      'currency',
      'amount',
      'item_count',
      'created_at',
    ]);
    expect(records.slice(1)).toEqual(await tenantRowsAsText(stack.database.sql, tenant));

    const states = (await listJobEvents(stack.database.db, job.id)).map((e) => e.state);
    expect(states).toEqual(['queued', 'running', 'succeeded']);
  });

  it("shows the exact row count early in a run whose 202 carried the planner's estimate", async () => {
    // More rows than the API counts exactly before it answers.
    const rows = EXACT_COUNT_CAP + 5_000;
    const big = await seedTenant(stack.database.sql, rows);
    const call = api(stack, (await stack.newUser(big)).key);
    const res = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as JobBody;
    expect(job.request.estimate?.rows.method).toBe('planner');
    // At 10,000 rows a second the run takes ten seconds; the count is known long before its end.
    const early = await eventually(
      async () => {
        const b = (await (await call(job.links.self)).json()) as JobBody;
        return b.state === 'running' && b.progress.total === rows ? b : undefined;
      },
      30_000,
      100,
    );
    expect(early.progress.done).toBeLessThan(rows / 2);
    expect((await call(job.links.cancel, { method: 'POST' })).status).toBe(202);
  });

  it('exports chosen columns in the requested order under the requested file name', async () => {
    const call = api(stack, key);
    const res = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({
        dataset: 'orders',
        format: 'csv',
        columns: ['amount', 'id'],
        fileName: 'Bestellungen März.csv',
      }),
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as JobBody;
    await eventually(async () => {
      const b = (await (await call(job.links.self)).json()) as JobBody;
      return b.state === 'succeeded' ? b : undefined;
    }, 60_000);
    const download = await call(job.links.download);
    expect(download.headers.get('content-disposition')).toBe(
      `attachment; filename="Bestellungen Marz.csv"; filename*=UTF-8''Bestellungen%20M%C3%A4rz.csv`,
    );
    const records = parseCsv(await download.text());
    expect(records[0]).toEqual(['amount', 'id']);
    const expected = (await tenantRowsAsText(stack.database.sql, tenant)).map((r) => [r[6], r[0]]);
    expect(records.slice(1)).toEqual(expected);
  });

  it('keeps a job invisible to other tenants and refuses missing or wrong keys', async () => {
    const call = api(stack, key);
    const res = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    const job = (await res.json()) as JobBody;
    await eventually(async () => {
      const b = (await (await call(job.links.self)).json()) as JobBody;
      return b.state === 'succeeded' ? b : undefined;
    }, 60_000);

    const other = await stack.newUser(`other-${tenant}`);
    const otherCall = api(stack, other.key);
    for (const p of [job.links.self, job.links.download, job.links.events]) {
      const r = await otherCall(p);
      expect(r.status, p).toBe(404);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
    }
    // The other tenant's own export holds none of the first tenant's rows.
    const own = (await (
      await otherCall('/v1/exports', {
        method: 'POST',
        body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
      })
    ).json()) as JobBody;
    const done = await eventually(async () => {
      const b = (await (await otherCall(own.links.self)).json()) as JobBody;
      return b.state === 'succeeded' ? b : undefined;
    }, 60_000);
    expect(done.result?.rows).toBe(0);
    expect((await (await otherCall(own.links.download)).text()).trim().split('\n')).toHaveLength(1);

    const anonymous = await api(stack, undefined)(job.links.self);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toBe('application/problem+json');
    const wrong = await api(stack, 'ofk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb')(job.links.self);
    expect(wrong.status).toBe(401);
  });
});
