/**
 * The API's error contract through app.request (no network): every error is problem+json with the right
 * status, on real PostgreSQL and a Temporal client connected to the run's dev server.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { createApiKey, ensureUser, revokeApiKey } from '../../src/db/users-repo.js';
import { createLogger } from '../../src/lib/logger.js';
import { newJobId } from '../../src/lib/ids.js';
import { createApp, type App } from '../../src/server/app.js';
import type { Problem } from '../../src/server/http/problem.js';
import { LocalStorage } from '../../src/storage/local.js';
import { connectTemporal, type TemporalHandle } from '../../src/temporal/client.js';
import { createStackDatabase, type StackDatabase } from '../helpers/stack-database.js';

let database: Database;
let ownDatabase: StackDatabase;
let temporal: TemporalHandle;
let app: App['app'];
let key: string;
let revokedKey: string;

beforeAll(async () => {
  ownDatabase = await createStackDatabase(inject('databaseUrl'), inject('templateDatabase'));
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: ownDatabase.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    STORAGE_DIR: path.join(inject('scratchDir'), `storage-${randomUUID()}`),
  });
  database = createDatabase(config.DATABASE_URL!, { max: 2 });
  temporal = await connectTemporal(config.temporal);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'http-errors-test' });
  app = createApp({
    config,
    database,
    temporal: temporal.client,
    storage: new LocalStorage(config.storageDir),
    log,
  }).app;

  const tenant = `t-${randomUUID().slice(0, 8)}`;
  const user = await ensureUser(database.db, `http-errors-${randomUUID()}`, tenant);
  key = (await createApiKey(database.db, user.id)).key;
  const revoked = await createApiKey(database.db, user.id);
  expect(await revokeApiKey(database.db, revoked.id)).toBe(true);
  revokedKey = revoked.key;
});

afterAll(async () => {
  await temporal?.close();
  await database?.close();
  await ownDatabase?.drop();
});

function request(
  p: string,
  init: { method?: string; key?: string; body?: string; headers?: Record<string, string> } = {},
) {
  return app.request(p, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
}

/** Asserts a problem+json response with `status` and returns its body. */
async function expectProblem(res: Response, status: number, instance: string): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as Problem;
  expect(body.status).toBe(status);
  expect(body.type).toMatch(/^\/problems\/[a-z-]+$/);
  expect(typeof body.title).toBe('string');
  expect(body.instance).toBe(instance);
  return body;
}

const validExport = JSON.stringify({ dataset: 'orders', format: 'csv' });

describe('authentication', () => {
  it('answers 401 problem+json with www-authenticate when there is no Authorization header', async () => {
    const res = await request('/v1/exports', { method: 'POST', body: validExport });
    const body = await expectProblem(res, 401, '/v1/exports');
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="offload"');
    expect(body.type).toBe('/problems/unauthorized');
    expect(body.detail).toContain('Bearer');
  });

  it.each([
    ['an unknown well-formed key', () => 'ofk_aaaaaaaaaaaa_' + 'A'.repeat(32)],
    ['a known prefix with a wrong secret', () => key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')],
    ['garbage', () => 'hunter2'],
  ])('answers 401 for %s', async (_label, makeKey) => {
    const p = `/v1/jobs/${newJobId()}`;
    const res = await request(p, { key: makeKey() });
    await expectProblem(res, 401, p);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="offload"');
  });

  it('answers 401 for a non-Bearer scheme', async () => {
    const p = `/v1/jobs/${newJobId()}`;
    const res = await request(p, {
      headers: { authorization: `Basic ${Buffer.from(`x:${key}`).toString('base64')}` },
    });
    await expectProblem(res, 401, p);
  });

  it('answers 401 for a revoked key', async () => {
    const res = await request('/v1/exports', { method: 'POST', key: revokedKey, body: validExport });
    const body = await expectProblem(res, 401, '/v1/exports');
    expect(body.detail).toMatch(/revoked|not valid/);
  });

  it('lets a valid key through (the same request is not a 401)', async () => {
    const p = `/v1/jobs/${newJobId()}`;
    const res = await request(p, { key });
    // An id that is well formed but does not exist: authenticated, then not found.
    const body = await expectProblem(res, 404, p);
    expect(body.type).toBe('/problems/not-found');
  });
});

describe('request errors', () => {
  it('answers 400 problem+json (not 500) for a body that is not JSON', async () => {
    const res = await request('/v1/exports', { method: 'POST', key, body: '{"dataset": "orders",' });
    const body = await expectProblem(res, 400, '/v1/exports');
    expect(body.type).toBe('/problems/malformed-request');
    expect(body.errors).toBeUndefined();
  });

  it('answers 422 naming every failing field', async () => {
    const res = await request('/v1/exports', {
      method: 'POST',
      key,
      body: JSON.stringify({ dataset: 'orders', format: 'xml', owner: 'x' }),
    });
    const body = await expectProblem(res, 422, '/v1/exports');
    expect(body.type).toBe('/problems/validation-error');
    const errors = body.errors ?? [];
    expect(errors.map((e) => e.field).sort()).toEqual(['format', 'owner']);
    expect(errors.every((e) => e.in === 'body')).toBe(true);
    expect(errors.find((e) => e.field === 'owner')?.reason).toBe('unknown field');
    expect(body.detail).toContain('format: must be one of: csv');
  });

  it('answers 422 naming `dataset` with the allowed values', async () => {
    const res = await request('/v1/exports', {
      method: 'POST',
      key,
      body: JSON.stringify({ dataset: 'payroll', format: 'csv' }),
    });
    const body = await expectProblem(res, 422, '/v1/exports');
    expect(body.errors).toEqual([
      { field: 'dataset', in: 'body', reason: 'unknown dataset; allowed: orders, customers' },
    ]);
  });

  it('answers 422 naming `columns.1` for an unknown column', async () => {
    const res = await request('/v1/exports', {
      method: 'POST',
      key,
      body: JSON.stringify({ dataset: 'orders', format: 'csv', columns: ['id', 'ssn'] }),
    });
    const body = await expectProblem(res, 422, '/v1/exports');
    expect(body.errors).toHaveLength(1);
    expect(body.errors![0]).toMatchObject({ field: 'columns.1', in: 'body' });
    expect(body.errors![0]!.reason).toContain('allowed: id, customer');
  });

  it('answers 404 problem+json for an unknown route', async () => {
    const res = await request('/v2/nothing-here', { key });
    const body = await expectProblem(res, 404, '/v2/nothing-here');
    expect(body.detail).toBe('no route for GET /v2/nothing-here');
  });

  it('answers 404 for a job id that is not a job id', async () => {
    const res = await request('/v1/jobs/not-a-job-id', { key });
    const body = await expectProblem(res, 404, '/v1/jobs/not-a-job-id');
    expect(body.detail).toBe('job not-a-job-id was not found');
  });

  it.each(['/v1/jobs/not-a-job-id/download', '/v1/jobs/not-a-job-id/events'])(
    'answers 404 for %s',
    async (p) => {
      await expectProblem(await request(p, { key }), 404, p);
    },
  );
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document describing /v1/exports with its problem responses', async () => {
    const res = await request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const post = doc.paths['/v1/exports']?.post;
    expect(post).toBeDefined();
    expect(Object.keys(post!.responses).sort()).toEqual([
      '200',
      '202',
      '400',
      '401',
      '409',
      '413',
      '415',
      '422',
      '429',
      '503',
    ]);
    expect(post!.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/v1/jobs/{id}']?.get).toBeDefined();
    expect(doc.components.schemas).toHaveProperty('ExportRequest');
    expect(doc.components.schemas).toHaveProperty('Problem');
    expect(doc.components.securitySchemes).toHaveProperty('bearer');
  });
});
