/**
 * Tenant and user isolation through HTTP on the real stack: every job route answers 404 to another user
 * (same tenant or not) exactly as for a missing job, the owner and an admin key get the job, and an
 * export holds only its tenant's rows. Adding a route is one line in JOB_ROUTES.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { parseCsv, seedTenant, tenantRowsAsText } from '../helpers/data.js';

interface JobRoute {
  method: 'GET' | 'POST' | 'DELETE';
  path: (id: string) => string;
  body?: unknown;
  /** What the owner (and an admin) gets for a finished job. */
  ownerStatus: number;
}

const JOB_ROUTES: JobRoute[] = [
  { method: 'GET', path: (id) => `/v1/jobs/${id}`, ownerStatus: 200 },
  { method: 'GET', path: (id) => `/v1/jobs/${id}/events`, ownerStatus: 200 },
  { method: 'GET', path: (id) => `/v1/jobs/${id}/download`, ownerStatus: 200 },
  { method: 'POST', path: (id) => `/v1/jobs/${id}/download-link`, ownerStatus: 200 },
  { method: 'GET', path: (id) => `/v1/jobs/${id}/deliveries`, ownerStatus: 200 },
  // The job has succeeded: its owner may neither cancel nor retry it, but learns that, not "not found".
  { method: 'POST', path: (id) => `/v1/jobs/${id}/cancel`, ownerStatus: 409 },
  { method: 'POST', path: (id) => `/v1/jobs/${id}/retry`, ownerStatus: 409 },
];

let stack: Stack;
let tenantA: string;
let tenantB: string;
let owner: { key: string };
let sameTenant: { key: string };
let otherTenant: { key: string };
let admin: { key: string };
let jobId: string;

beforeAll(async () => {
  stack = await startStack();
  tenantA = await seedTenant(stack.database.sql, 120);
  tenantB = await seedTenant(stack.database.sql, 80);
  owner = await stack.newUser(tenantA);
  sameTenant = await stack.newUser(tenantA);
  otherTenant = await stack.newUser(tenantB);
  admin = await stack.newUser(tenantB, 'admin');
  const res = await api(stack, owner.key)('/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
  });
  jobId = ((await res.json()) as { id: string }).id;
  await eventually(async () => {
    const body = (await (await api(stack, owner.key)(`/v1/jobs/${jobId}`)).json()) as { state: string };
    return body.state === 'succeeded' ? true : undefined;
  }, 60_000);
});

afterAll(async () => {
  await stack?.stop();
});

async function call(key: string, route: JobRoute, id: string) {
  const res = await api(stack, key)(route.path(id), {
    method: route.method,
    ...(route.body === undefined ? {} : { body: JSON.stringify(route.body) }),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), text };
}

describe.each(JOB_ROUTES)('$method $path', (route) => {
  it("answers another user's job exactly like a missing one", async () => {
    const missing = await call(sameTenant.key, route, 'job_00000000000000000000000000');
    expect(missing.status).toBe(404);
    for (const who of [sameTenant, otherTenant]) {
      const res = await call(who.key, route, jobId);
      expect(res.status).toBe(404);
      expect(res.type).toBe('application/problem+json');
      expect(res.text.replaceAll(jobId, 'ID')).toBe(
        missing.text.replaceAll('job_00000000000000000000000000', 'ID'),
      );
    }
  });

  it('serves the owner and an admin of another tenant', async () => {
    expect((await call(owner.key, route, jobId)).status).toBe(route.ownerStatus);
    expect((await call(admin.key, route, jobId)).status).toBe(route.ownerStatus);
  });
});

describe('exports', () => {
  it("hold only the caller's tenant rows", async () => {
    const text = (await call(owner.key, JOB_ROUTES[2]!, jobId)).text;
    const rows = parseCsv(text).slice(1);
    expect(rows).toEqual(await tenantRowsAsText(stack.database.sql, tenantA));
    const other = new Set((await tenantRowsAsText(stack.database.sql, tenantB)).map((r) => r[0]));
    expect(rows.some((r) => other.has(r[0]))).toBe(false);
  });

  it("an admin's export reads the admin's own tenant", async () => {
    const res = await api(stack, admin.key)('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    const { id } = (await res.json()) as { id: string };
    await eventually(async () => {
      const body = (await (await api(stack, admin.key)(`/v1/jobs/${id}`)).json()) as { state: string };
      return body.state === 'succeeded' ? true : undefined;
    }, 60_000);
    const text = await (await api(stack, admin.key)(`/v1/jobs/${id}/download`)).text();
    expect(parseCsv(text).slice(1)).toEqual(await tenantRowsAsText(stack.database.sql, tenantB));
  });
});
