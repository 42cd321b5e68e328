/**
 * One trace per job, across processes: the API's request span (this process, as src/server/index.ts
 * sets tracing up), the workflow start by the outbox relay, the workflow, the heavy activity and its
 * storage writes (worker processes), all exported over OTLP/HTTP to a collector this test runs in
 * memory. The worker running the export is killed mid-run; the retry on the other worker continues the
 * same trace.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJob, listAttempts } from '../../src/db/jobs-repo.js';
import { startTracing, type Tracing } from '../../src/lib/tracing.js';
import { seedTenant } from '../helpers/data.js';
import { api, eventually, startStack, type ExportJobBody as JobBody, type Stack } from '../helpers/stack.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const ROWS = 200_000;

interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  instance: string;
  attributes: Record<string, unknown>;
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}
interface OtlpRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

const attributes = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, Object.values(a.value)[0]]));

/** An OTLP/HTTP (JSON) trace receiver keeping every span in memory. */
async function startCollector() {
  const spans: CollectedSpan[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const parsed = JSON.parse(body) as OtlpRequest;
      for (const rs of parsed.resourceSpans ?? []) {
        const resource = attributes(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              service: String(resource['service.name']),
              instance: String(resource['service.instance.id']),
              attributes: attributes(s.attributes),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    spans,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

let collector: Awaited<ReturnType<typeof startCollector>>;
let tracing: Tracing | undefined;
let stack: Stack;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  collector = await startCollector();
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '100' };
  // This process runs the stack's API: traced as src/server/index.ts traces it.
  tracing = startTracing('offload-api', otel);
  const env = { ...otel, EXPORT_PART_ROWS: '10000', EXPORT_MAX_ROWS_PER_SEC: '40000' };
  stack = await startStack({ queues: ['jobs'], env });
  workers = await Promise.all([
    startWorkerProcess(['exports'], stack.childEnv),
    startWorkerProcess(['exports'], stack.childEnv),
  ]);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.stop();
  await tracing?.shutdown();
  // The global provider, propagator and context manager are this file's only.
  trace.disable();
  propagation.disable();
  context.disable();
  await collector?.close();
});

describe('traces', () => {
  it('holds the request, the workflow and the activity of an export in one trace, across a worker kill', async () => {
    expect(tracing).toBeDefined();
    const tenant = await seedTenant(stack.database.sql, ROWS);
    const { key } = await stack.newUser(tenant);
    const call = api(stack, key);
    const res = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as JobBody;
    const job = async () => (await (await call(`/v1/jobs/${id}`)).json()) as JobBody;

    // The job row carries the request's trace to the relay.
    const traceparent = (await getJob(stack.database.db, id))?.traceContext;
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const traceId = traceparent!.split('-')[1]!;

    // Kill the worker running attempt 1 once a fifth of the rows are done.
    await eventually(async () => ((await job()).progress.done >= ROWS / 5 ? true : undefined), 60_000, 50);
    const [first] = await listAttempts(stack.database.db, id);
    const victim = workers.find((w) => first?.worker === `${os.hostname()}:${w.pid}`);
    expect(victim, `attempt 1 ran on ${first?.worker}`).toBeDefined();
    await victim!.kill();
    const final = await eventually(
      async () => {
        const b = await job();
        return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
      },
      120_000,
      200,
    );
    expect(final.state).toBe('succeeded');
    const attempts = await listAttempts(stack.database.db, id);
    const survivor = attempts.at(-1)!.worker;
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(survivor).not.toBe(first!.worker);

    // Every span of the job, once the workflow's own span (ended last) has arrived.
    const inTrace = await eventually(
      () => {
        const spans = collector.spans.filter((s) => s.traceId === traceId);
        return Promise.resolve(spans.some((s) => s.name.startsWith('RunWorkflow:')) ? spans : undefined);
      },
      30_000,
      100,
    );
    const named = (prefix: string) => inTrace.filter((s) => s.name.startsWith(prefix));
    const request = inTrace.find((s) => s.name === 'POST /v1/exports');
    expect(request, inTrace.map((s) => s.name).join(', ')).toMatchObject({ service: 'offload-api' });
    expect(request!.attributes['http.response.status_code']).toBe(202);
    // The relay's start, inside the request's trace, in a worker process.
    expect(named('StartWorkflow:')[0]?.service).toBe('offload-worker');
    expect(named('RunWorkflow:exportWorkflow')).toHaveLength(1);
    // The heavy activity's retry ran on the survivor, in the same trace, with its storage writes there.
    const activities = named('RunActivity:exportDataset');
    expect(activities.map((s) => s.instance)).toContain(survivor);
    expect(named('storage.writePart').some((s) => s.instance === survivor)).toBe(true);
    expect(named('storage.publish').map((s) => s.instance)).toEqual([survivor]);
    expect(named('export.read').some((s) => s.instance === survivor)).toBe(true);
    // The activity spans descend from the workflow's span.
    const byId = new Map(inTrace.map((s) => [s.spanId, s]));
    const ancestors = (s: CollectedSpan): string[] => {
      const parent = byId.get(s.parentSpanId);
      return parent ? [parent.name, ...ancestors(parent)] : [];
    };
    const retried = activities.find((s) => s.instance === survivor)!;
    expect(ancestors(retried)).toContain('RunWorkflow:exportWorkflow');
    expect(ancestors(retried)).toContain('POST /v1/exports');
  });
});
