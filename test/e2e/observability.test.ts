/**
 * What operators see: /readyz, the API's Prometheus metrics, the workers' Temporal SDK metrics, and
 * jobs findable in Temporal by offload's search attributes (the query the README shows for the CLI).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inject, afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { requireTemporalCli } from '../../tools/binaries.js';
import { freePort } from '../../tools/ports.js';
import { createLogger } from '../../src/lib/logger.js';
import { createApp } from '../../src/server/app.js';
import { LocalStorage } from '../../src/storage/local.js';
import { seedTenant } from '../helpers/data.js';
import { EXPORTS_QUEUE } from '../../src/shared/temporal.js';
import { api, eventually, stackQueue, startStack, type Stack } from '../helpers/stack.js';

const run = promisify(execFile);

let stack: Stack;
let metricsPort: number;
let user: { userId: string; key: string };
let jobId: string;

/** The value of one sample line `name{labels} value`, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

beforeAll(async () => {
  metricsPort = await freePort();
  stack = await startStack({ env: { WORKER_METRICS_PORT: String(metricsPort) } });
  const tenant = await seedTenant(stack.database.sql, 2000);
  user = await stack.newUser(tenant);
  const res = await api(stack, user.key)('/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
  });
  expect(res.status).toBe(202);
  jobId = ((await res.json()) as { id: string }).id;
  await eventually(async () => {
    const job = (await (await api(stack, user.key)(`/v1/jobs/${jobId}`)).json()) as { state: string };
    return job.state === 'succeeded' ? job : undefined;
  }, 60_000);
});

afterAll(async () => {
  await stack?.stop();
});

describe('health', () => {
  it('/healthz answers while the process runs; /readyz checks PostgreSQL and Temporal', async () => {
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
    const res = await fetch(`${stack.baseUrl}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; checks: { name: string; ok: boolean }[] };
    expect(body.status).toBe('ready');
    expect(body.checks.map((c) => [c.name, c.ok])).toEqual([
      ['database', true],
      ['temporal', true],
    ]);
  });

  it('/readyz is 503 naming the database when PostgreSQL does not answer', async () => {
    const deadDb = createDatabase(`postgres://nobody@127.0.0.1:${await freePort()}/none`, { max: 1 });
    const { app } = createApp({
      config: stack.config,
      database: deadDb,
      temporal: stack.temporal.client,
      storage: new LocalStorage(stack.storageDir),
      log: createLogger({ level: 'silent', name: 'test' }),
    });
    try {
      const res = await app.request('/readyz');
      expect(res.status).toBe(503);
      const body = (await res.json()) as {
        status: string;
        checks: { name: string; ok: boolean; error?: string }[];
      };
      expect(body.status).toBe('unavailable');
      expect(body.checks.find((c) => c.name === 'database')).toMatchObject({ ok: false });
      expect(body.checks.find((c) => c.name === 'temporal')).toMatchObject({ ok: true });
    } finally {
      await deadDb.close();
    }
  });
});

describe('GET /metrics', () => {
  it('has request latency per route pattern and the job counts, durations and bytes', async () => {
    const res = await fetch(`${stack.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    // One series per route pattern, never per job id.
    expect(
      sample(text, 'offload_http_request_duration_seconds_count', { route: '/v1/exports', status: '202' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'offload_http_request_duration_seconds_count', { route: '/v1/jobs/:id', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(jobId);
    expect(sample(text, 'offload_jobs_submitted_total', { kind: 'export' })).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'offload_jobs_finished_total', { kind: 'export', state: 'succeeded' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'offload_job_bytes_produced_total', { kind: 'export' })).toBeGreaterThan(0);
    expect(sample(text, 'offload_job_duration_seconds_count', { kind: 'export' })).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'offload_job_queue_wait_seconds_bucket', { kind: 'export', le: '+Inf' }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).toContain('# TYPE offload_rate_limit_refusals_total counter');
  });

  it('counts bucket by bucket: a job that took under an hour is in the 3600 s bucket', async () => {
    const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    const count = sample(text, 'offload_job_duration_seconds_count', { kind: 'export' })!;
    expect(sample(text, 'offload_job_duration_seconds_bucket', { kind: 'export', le: '3600' })).toBe(count);
    const finished = await stack.database.sql<{ n: number }[]>`
      select count(*)::int as n from jobs where kind = 'export' and finished_at is not null and started_at is not null`;
    expect(count).toBe(finished[0]!.n);
  });

  it("workers serve the Temporal SDK's own metrics on a port of their own", async () => {
    const text = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
      const body = res?.ok ? await res.text() : '';
      return body.includes('temporal_') ? body : undefined;
    }, 15_000);
    expect(text).toMatch(/temporal_activity_execution_latency|temporal_workflow_task_execution_latency/);
    expect(text).toContain(`task_queue="${stackQueue(stack, EXPORTS_QUEUE)}"`);
  });
});

describe('Temporal visibility', () => {
  it('finds the job by OffloadOwner, with kind and final state, from the SDK and the CLI', async () => {
    const query = `OffloadOwner='${user.userId}'`;
    const found = await eventually(async () => {
      const list = [];
      for await (const wf of stack.temporal.client.workflow.list({ query })) list.push(wf);
      const state = list[0]?.searchAttributes.OffloadState;
      return list.length === 1 && Array.isArray(state) && state[0] === 'succeeded' ? list : undefined;
    }, 15_000);
    expect(found[0]!.workflowId).toBe(`offload-${jobId}`);
    expect(found[0]!.searchAttributes.OffloadKind).toEqual(['export']);

    const { stdout } = await run(requireTemporalCli(), [
      'workflow',
      'list',
      '--address',
      inject('temporalAddress'),
      '--query',
      query,
      '--output',
      'json',
    ]);
    const rows = JSON.parse(stdout) as { execution: { workflowId: string } }[];
    expect(rows.map((r) => r.execution.workflowId)).toEqual([`offload-${jobId}`]);
  });

  it('shows a summary and the live details line in the Web UI metadata', async () => {
    const handle = stack.temporal.client.workflow.getHandle(`offload-${jobId}`);
    const description = await handle.describe();
    expect(await description.staticSummary()).toContain('export orders as csv');
    const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toMatch(/^succeeded: 100% \(2,000 of 2,000 rows\)/);
  });
});
