/**
 * Input hardening on the real stack (no workers: nothing here should ever reach one): the inputs that
 * once answered 500 or were accepted with 202 and then failed attempt after attempt answer 422
 * problem+json naming the field, a body over API_BODY_LIMIT_BYTES answers 413 before it is parsed, and
 * an answer given before the body was read ends its connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/activities/heavy/attempt.js';
import type { Problem } from '../../src/server/http/problem.js';
import { api, startStack, type Stack } from '../helpers/stack.js';

const BODY_LIMIT = 64 * 1024;

let stack: Stack;
let key: string;
let userId: string;

beforeAll(async () => {
  stack = await startStack({
    queues: [],
    env: {
      API_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      // The body limit must hold the longest audio text (3 bytes a character and 4 KiB).
      AUDIO_MAX_TEXT_CHARS: String(Math.floor((BODY_LIMIT - 4096) / 3)),
    },
  });
  ({ key, userId } = await stack.newUser('t-input'));
});

afterAll(async () => {
  await stack?.stop();
});

async function jobCount(): Promise<number> {
  const [row] = await stack.database.sql<{ n: number }[]>`
    select count(*)::int as n from jobs where user_id = ${userId}`;
  return row!.n;
}

/** Sends `init` to `path` and returns the problem, asserting its status and content type. */
async function problem(path: string, init: RequestInit, status: number): Promise<Problem> {
  const res = await api(stack, key)(path, init);
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = JSON.parse(text) as Problem;
  expect(body.status).toBe(status);
  return body;
}

const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });
const fields = (p: Problem) => (p.errors ?? []).map((e) => `${e.in}:${e.field}`);

describe('the reported inputs', () => {
  it.each([
    ['2023-02-30', 'filters.created_at.from'],
    ['2023-13-01', 'filters.created_at.from'],
    ['2024-01-01T25:00', 'filters.created_at.from'],
    ['0000-01-01', 'filters.created_at.from'],
    ['2024-01-01T00:00:00+16:00', 'filters.created_at.from'],
  ])('an export filter date %j is 422 naming %s', async (from, field) => {
    const p = await problem(
      '/v1/exports',
      post({ dataset: 'orders', format: 'csv', filters: { created_at: { from } } }),
      422,
    );
    expect(fields(p)).toEqual([`body:${field}`]);
  });

  it.each([
    ['2023-02-30T00:00:00Z', 'createdAfter'],
    ['0000-06-01T00:00:00Z', 'createdAfter'],
  ])('a list filter %j is 422 naming %s', async (value, name) => {
    const p = await problem(`/v1/jobs?${name}=${encodeURIComponent(value)}`, {}, 422);
    expect(fields(p)).toEqual([`query:${name}`]);
    const dead = await problem(`/v1/dead-letters?${name}=${encodeURIComponent(value)}`, {}, 422);
    expect(fields(dead)).toEqual([`query:${name}`]);
  });

  it.each([
    // Real days the document takes, at instants in year 10000 and year 0.
    ['createdBefore', '9999-12-31T23:00:00-14:00', 1],
    ['createdAfter', '0001-01-01T00:00:00+01:00', 1],
    ['createdAfter', '9999-12-31T23:00:00-14:00', 0],
    ['createdBefore', '0001-01-01T00:00:00+01:00', 0],
  ])('a list filter %s=%j at the edge of the range is 200 with %i of one job', async (name, value, n) => {
    const { key: own } = await stack.newUser('t-input-edge');
    const made = await api(stack, own)('/v1/exports', post({ dataset: 'orders', format: 'csv' }));
    expect(made.status).toBe(202);
    const res = await api(stack, own)(`/v1/jobs?${name}=${encodeURIComponent(value)}`);
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect((JSON.parse(text) as { items: unknown[] }).items).toHaveLength(n);
  });

  it.each([
    [{ dataset: 'orders', format: 'csv', filters: { country: ['DE\u0000'] } }, 'filters.country.0'],
    [{ dataset: 'orders', format: 'csv', filters: { country: ['\ud800'] } }, 'filters.country.0'],
    [{ dataset: 'orders', format: 'pdf', title: 'Orders\u0000' }, 'title'],
    [{ dataset: 'orders', format: 'csv', callbackUrl: 'https://hooks.example.com/\u0000' }, 'callbackUrl'],
    [{ dataset: 'orders', format: 'csv', fileName: 'orders\ud800.csv' }, 'fileName'],
    [{ text: 'Hello \ud800 world.' }, 'text'],
    [{ text: 'Hello \udc00 world.' }, 'text'],
    [{ text: 'Hello.', voice: 'en-us\u0000' }, 'voice'],
  ])('%j is 422 naming %s', async (body, field) => {
    const path = 'text' in body ? '/v1/audio' : '/v1/exports';
    const p = await problem(path, post(body), 422);
    expect(fields(p)).toContain(`body:${field}`);
  });

  it.each([
    '.',
    '..',
    'a/b.csv',
    'a\\b.csv',
    'tab\there.csv',
    'bell\u0007.csv',
    'c1\u0085.csv',
    'rtl\u202egnp.exe',
  ])('fileName %j is 422 naming fileName, and no job is recorded', async (fileName) => {
    const before = await jobCount();
    const p = await problem('/v1/exports', post({ dataset: 'orders', format: 'csv', fileName }), 422);
    expect(p.errors).toEqual([{ field: 'fileName', in: 'body', reason: expect.any(String) as string }]);
    expect(await jobCount()).toBe(before);
  });

  it('refuses a file name whose storage key would not fit a file name, or accepts one that fits', async () => {
    // 200 code points, 400 UTF-16 units: storageKey() turns each unit into `_`, and a local file name
    // (with LocalStorage's `.tmp-…` suffix of 17 characters) has at most 255 bytes.
    const fileName = '😀'.repeat(200);
    const res = await api(stack, key)('/v1/exports', post({ dataset: 'orders', format: 'csv', fileName }));
    const body = (await res.json()) as { id: string } & Problem;
    if (res.status === 202) {
      const segment = storageKey(body.id, fileName).split('/').pop()!;
      expect(Buffer.byteLength(segment) + 17).toBeLessThanOrEqual(255);
    } else {
      expect(res.status).toBe(422);
      expect(fields(body)).toEqual(['body:fileName']);
    }
  });

  it('still accepts an ordinary file name with dots, spaces and non-Latin letters', async () => {
    const res = await api(stack, key)(
      '/v1/exports',
      post({ dataset: 'orders', format: 'csv', fileName: '..Bestellungen März 日本 😀.csv' }),
    );
    expect(res.status, await res.text()).toBe(202);
  });

  it('a NUL in the default webhook is 422 naming webhookUrl', async () => {
    const p = await problem(
      '/v1/settings/notifications',
      { method: 'PUT', body: JSON.stringify({ webhookUrl: 'https://h.example.com/\u0000' }) },
      422,
    );
    expect(fields(p)).toEqual(['body:webhookUrl']);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'GET /assets/%s is 404 problem+json, not an asset',
    async (name) => {
      await problem(`/assets/${name}`, {}, 404);
    },
  );

  it('a NUL in a query value or a path parameter is 422 naming it', async () => {
    expect(fields(await problem('/v1/jobs?cursor=%00', {}, 422))).toEqual(['query:cursor']);
    expect(fields(await problem('/v1/jobs/job_%00', {}, 422))).toEqual(['path:id']);
  });
});

describe('request bodies', () => {
  it(`answers 413 problem+json for a body over API_BODY_LIMIT_BYTES, declared or streamed`, async () => {
    const text = 'a'.repeat(BODY_LIMIT);
    const p = await problem('/v1/audio', post({ text }), 413);
    expect(p.type).toBe('/problems/payload-too-large');
    expect(p.errors).toEqual([{ field: '(body)', in: 'body', reason: expect.any(String) as string }]);
    // Without Content-Length (chunked): counted while it is read.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(BODY_LIMIT / 4)));
        controller.close();
      },
    });
    await problem('/v1/exports', { method: 'POST', body: chunked, duplex: 'half' }, 413);
  });

  it('ends the connection when it answers before reading the body, and only then', async () => {
    const early = await fetch(`${stack.baseUrl}/v1/exports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/plain' },
      body: 'x'.repeat(10_000),
    });
    await early.text();
    expect(early.status).toBe(415);
    expect(early.headers.get('connection')).toBe('close');
    const read = await api(stack, key)('/v1/exports', post({ dataset: 'orders', format: 'csv' }));
    await read.text();
    expect(read.status).toBe(202);
    expect(read.headers.get('connection')).not.toBe('close');
  });

  it('answers 4xx problem+json for deeply nested JSON, malformed JSON and a wrong content type', async () => {
    const depth = 10_000; // within the 64 KiB limit of this stack
    const deep = `{"dataset":"orders","format":"csv","filters":{"country":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const p = await problem('/v1/exports', { method: 'POST', body: deep }, 422);
    expect(fields(p)).toEqual(['body:filters.country']);
    const top = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    await problem('/v1/exports', { method: 'POST', body: top }, 422);
    const unknown = `{"dataset":"orders","format":"csv","x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    expect(fields(await problem('/v1/exports', { method: 'POST', body: unknown }, 422))).toEqual(['body:x']);
    await problem('/v1/exports', { method: 'POST', body: '{"dataset":' }, 400);
    await problem(
      '/v1/exports',
      { method: 'POST', body: '{}', headers: { 'content-type': 'text/plain' } },
      415,
    );
  });
});
