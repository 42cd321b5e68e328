/**
 * The API as a contract: /openapi.json is a valid OpenAPI 3.1 document that declares every route, /docs
 * renders it without any external resource, and thousands of malformed requests (bodies, headers, query
 * strings, paths) on every route get a 4xx problem+json in time: never a 500, never a hang, nothing written.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.js';

interface Operation {
  parameters?: { name: string; in: string; required?: boolean }[];
  requestBody?: unknown;
  security?: unknown[];
  responses: Record<
    string,
    { headers?: Record<string, unknown>; content?: Record<string, { schema?: unknown }> }
  >;
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

let stack: Stack;
let doc: Doc;
let key: string;
let userId: string;

beforeAll(async () => {
  stack = await startStack({ queues: [] });
  doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as Doc;
  ({ key, userId } = await stack.newUser('t-contract'));
});

afterAll(async () => {
  await stack?.stop();
});

describe('/openapi.json and /docs', () => {
  it('is a valid OpenAPI 3.1 document that declares every route of the app', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);

    // Operational endpoints and the dashboard's page and assets are not part of the API contract.
    const infra = new Set([
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.json',
      '/docs',
      '/',
      '/assets/:file',
    ]);
    const declared = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    const routes = stack.app.app.routes
      .filter((r) => r.method !== 'ALL' && !infra.has(r.path))
      .map((r) => `${r.method} ${r.path}`);
    expect(routes.length).toBeGreaterThan(10);
    for (const r of routes) expect(declared, r).toContain(r);
    for (const op of [
      'GET /v1/jobs',
      'GET /v1/jobs/:id/events',
      'POST /v1/jobs/:id/cancel',
      'POST /v1/jobs/:id/retry',
      'GET /v1/dead-letters',
      'GET /v1/jobs/:id/deliveries',
      'GET /files/:id',
    ]) {
      expect(declared).toContain(op);
    }
  });

  it('declares on every operation the statuses its middleware and request parts answer', () => {
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const label = `${method.toUpperCase()} ${p}`;
        const statuses = Object.keys(op.responses);
        expect(statuses, label).toContain('503');
        expect(Object.keys(op.responses['503']!.headers ?? {}), label).toContain('Retry-After');
        if (op.security?.length) {
          expect(statuses, label).toEqual(expect.arrayContaining(['401', '429']));
          expect(Object.keys(op.responses['429']!.headers ?? {}), label).toEqual(
            expect.arrayContaining(['Retry-After', 'RateLimit', 'RateLimit-Policy']),
          );
        }
        if (op.parameters?.length) expect(statuses, label).toContain('422');
        if (op.requestBody)
          expect(statuses, label).toEqual(expect.arrayContaining(['400', '413', '415', '422']));
      }
    }
    // Downloads answer with the result's own type; the event stream documents its events.
    const download = doc.paths['/v1/jobs/{id}/download']!.get!.responses['200']!.content!;
    expect(Object.keys(download)).toEqual(
      expect.arrayContaining([
        'text/csv',
        'application/x-ndjson',
        'application/pdf',
        'audio/mpeg',
        'audio/ogg',
      ]),
    );
    const events = doc.paths['/v1/jobs/{id}/events']!.get!.responses['200']!.content!['text/event-stream']!;
    expect(JSON.stringify(events.schema)).toContain('JobEvent');
  });

  it('answers another method on a known path with 405 and Allow, an unknown path with 404', async () => {
    const cases: [string, string, string][] = [
      ['DELETE', '/v1/jobs', 'GET, HEAD'],
      ['PUT', '/v1/exports', 'POST'],
      ['PATCH', '/v1/settings/notifications', 'GET, HEAD, PUT'],
      ['DELETE', '/v1/jobs/job_00000000000000000000000000/events', 'GET, HEAD'],
      ['OPTIONS', '/v1/me', 'GET, HEAD'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['DELETE', '/files/job_00000000000000000000000000', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const res = await fetch(`${stack.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { type: string }).type).toBe('/problems/method-not-allowed');
    }
    const unknown = await fetch(`${stack.baseUrl}/v1/nothing-here`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('allow')).toBeNull();
  });

  it('refuses a request without the body its route requires', async () => {
    for (const [method, path] of [
      ['PUT', '/v1/settings/notifications'],
      ['POST', '/v1/exports'],
    ]) {
      const res = await fetch(`${stack.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('renders /docs from the document with no external resource', async () => {
    const res = await fetch(`${stack.baseUrl}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    expect(html).toContain("fetch('/openapi.json')");
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/i);
  });
});

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom(
    '',
    '..',
    '../..',
    '%00',
    'job_',
    'job_00000000000000000000000000',
    ' ',
    '\u0000',
    'a'.repeat(5000),
  ),
);
const jsonValue = fc.oneof(
  fc.jsonValue(),
  // Objects shaped like real bodies with one corruption: an unknown field (every body is a strict object).
  fc.record({
    dataset: fc.oneof(fc.constant('orders'), fc.jsonValue()),
    format: fc.oneof(fc.constant('csv'), fc.jsonValue()),
    columns: fc.jsonValue(),
    callbackUrl: fc.oneof(fc.constant('http://127.0.0.1/x'), fc.jsonValue()),
    webhookUrl: fc.oneof(fc.constant('http://127.0.0.1/x'), fc.jsonValue()),
    [`x_${Math.random().toString(36).slice(2)}`]: fc.jsonValue(),
  }),
);
const body = fc.oneof(
  jsonValue.map((v) => ({ text: JSON.stringify(v), type: 'application/json' })),
  fc.string().map((s) => ({ text: s, type: 'application/json' })),
  fc.string().map((s) => ({ text: s, type: 'text/plain' })),
  fc.constant({ text: '{"dataset":"orders","format":"csv"', type: 'application/json' }),
);

async function rowsWritten(): Promise<number> {
  const [r] = await stack.database.sql<{ n: number }[]>`
    select (select count(*) from jobs where user_id = ${userId})
         + (select count(*) from idempotency_keys where user_id = ${userId})
         + (select count(*) from users where id = ${userId} and webhook_url is not null) as n`;
  return Number(r!.n);
}

describe('malformed requests', () => {
  it('never answer 500, never hang, and write nothing', async () => {
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path: p, method: method.toUpperCase(), op })),
    );
    const statuses = new Map<number, number>();
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ops),
        anyText,
        fc.dictionary(
          fc.oneof(
            fc.constantFrom('limit', 'cursor', 'state', 'kind', 'createdAfter', 'expires', 'signature'),
            fc.string(),
          ),
          anyText,
          { maxKeys: 4 },
        ),
        fc.dictionary(
          fc.constantFrom('idempotency-key', 'last-event-id', 'range', 'if-none-match', 'if-range', 'x-junk'),
          printable,
          { maxKeys: 3 },
        ),
        fc.option(body, { nil: undefined }),
        fc.constantFrom('valid', 'valid', 'valid', 'none', 'garbage'),
        async (op, id, query, headers, b, auth) => {
          const path = op.path.replace('{id}', encodeURIComponent(id));
          const qs = new URLSearchParams(query).toString();
          const h: Record<string, string> = { ...headers };
          if (auth === 'valid') h.authorization = `Bearer ${key}`;
          if (auth === 'garbage') h.authorization = `Bearer ${id.slice(0, 50).replace(/[^\x21-\x7e]/g, 'x')}`;
          const sendBody = b && op.method !== 'GET';
          if (sendBody) h['content-type'] = b.type;
          const res = await fetch(`${stack.baseUrl}${path}${qs ? `?${qs}` : ''}`, {
            method: op.method,
            headers: h,
            body: sendBody ? b.text : undefined,
            signal: AbortSignal.timeout(10_000),
          });
          const text = await res.text();
          requests++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(res.status, `${op.method} ${path} → ${text.slice(0, 300)}`).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.headers.get('content-type')).toBe('application/problem+json');
            const problem = JSON.parse(text) as { type: string; title: string; status: number };
            expect(problem.status).toBe(res.status);
            expect(problem.type).toMatch(/^\/problems\/[a-z-]+$/);
          }
        },
      ),
      { numRuns: 2000 },
    );
    // Raw paths that are not routes at all.
    await fc.assert(
      fc.asyncProperty(
        fc.webPath(),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
        async (p, method) => {
          const res = await fetch(`${stack.baseUrl}${p.startsWith('/') ? p : `/${p}`}`, {
            method,
            headers: { authorization: `Bearer ${key}` },
            signal: AbortSignal.timeout(10_000),
          });
          await res.arrayBuffer();
          requests++;
          expect(res.status).toBeLessThan(500);
        },
      ),
      { numRuns: 500 },
    );
    console.log(`fuzz: ${requests} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(await rowsWritten()).toBe(0);
  });
});
