/**
 * Prometheus metrics of the API (`GET /metrics`). Request latency per route and rate-limit refusals
 * are counted in this process; job counts, queue wait, duration and bytes produced are read from the
 * database at scrape time (`readJobStats`, whose cost does not grow with the number of jobs), so every
 * API instance reports the same totals for the whole deployment. With `METRICS_TOKEN` set, the route
 * requires it as a bearer token (`requireMetricsToken`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Sql } from '../../db/client.js';
import { readJobStats, type JobStats, type JobStatsRow } from '../../db/job-stats-repo.js';
import { HttpProblem } from './problem.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ApiMetrics {
  registry: Registry;
  /** Times every request and counts 429s; mount before the routes. */
  middleware: MiddlewareHandler;
  /** The exposition text: process metrics plus the job metrics read from the database. */
  render(): Promise<string>;
  contentType: string;
}

export function createApiMetrics(sql: Sql): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'offload_api_' });
  const latency = new Histogram({
    name: 'offload_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'offload_rate_limit_refusals_total',
    help: 'Requests refused with 429 (rate limit or per-user job cap)',
    labelNames: ['route'] as const,
    registers: [registry],
  });

  const middleware: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      // The matched pattern (/v1/jobs/:id), never the raw path: one series per route, not per job.
      const handler = matchedRoutes(c).findLast((r) => r.method !== 'ALL');
      const route = handler?.path ?? 'unmatched';
      const status = String(c.res.status);
      latency.observe({ method: c.req.method, route, status }, (performance.now() - started) / 1000);
      if (c.res.status === 429) refusals.inc({ route });
    }
  };

  const render = async () => {
    const own = await registry.metrics();
    return `${own}\n${formatJobStats(await readJobStats(sql))}`;
  };
  return { registry, middleware, render, contentType: registry.contentType };
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

function labels(values: Record<string, string>): string {
  return `{${Object.entries(values)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
    .join(',')}}`;
}

/** Job metrics in the Prometheus text format, aggregated from the per-(kind, state) rows. */
export function formatJobStats({ rows, bounds }: JobStats): string {
  const out: string[] = [];
  const byKind = new Map<string, JobStatsRow[]>();
  for (const row of rows) byKind.set(row.kind, [...(byKind.get(row.kind) ?? []), row]);

  out.push('# HELP offload_jobs_submitted_total Jobs accepted, by kind');
  out.push('# TYPE offload_jobs_submitted_total counter');
  for (const [kind, list] of byKind) {
    out.push(`offload_jobs_submitted_total${labels({ kind })} ${list.reduce((n, r) => n + r.jobs, 0)}`);
  }
  out.push('# HELP offload_jobs Jobs by kind and current state');
  out.push('# TYPE offload_jobs gauge');
  for (const r of rows) out.push(`offload_jobs${labels({ kind: r.kind, state: r.state })} ${r.jobs}`);

  out.push(
    '# HELP offload_jobs_finished_total Jobs that reached an outcome, by kind and outcome (an expired result counts as succeeded)',
  );
  out.push('# TYPE offload_jobs_finished_total counter');
  const finished = new Map<string, number>();
  for (const r of rows) {
    if (!TERMINAL.has(r.state)) continue;
    const outcome = r.state === 'expired' ? 'succeeded' : r.state;
    const key = `${r.kind}\u0000${outcome}`;
    finished.set(key, (finished.get(key) ?? 0) + r.jobs);
  }
  for (const [key, n] of finished) {
    const [kind = '', state = ''] = key.split('\u0000');
    out.push(`offload_jobs_finished_total${labels({ kind, state })} ${n}`);
  }

  out.push('# HELP offload_job_bytes_produced_total Bytes of results produced, by kind');
  out.push('# TYPE offload_job_bytes_produced_total counter');
  for (const [kind, list] of byKind) {
    const bytes = list.reduce((n, r) => n + Number(r.bytes ?? 0), 0);
    out.push(`offload_job_bytes_produced_total${labels({ kind })} ${bytes}`);
  }

  const histogram = (
    name: string,
    help: string,
    pick: (r: JobStatsRow) => { buckets: number[]; count: number; sum: number | null },
  ) => {
    out.push(`# HELP ${name} ${help}`);
    out.push(`# TYPE ${name} histogram`);
    for (const [kind, list] of byKind) {
      const buckets = bounds.map((_, i) => list.reduce((n, r) => n + (pick(r).buckets[i] ?? 0), 0));
      const count = list.reduce((n, r) => n + pick(r).count, 0);
      const sum = list.reduce((n, r) => n + (pick(r).sum ?? 0), 0);
      bounds.forEach((le, i) => out.push(`${name}_bucket${labels({ kind, le: String(le) })} ${buckets[i]}`));
      out.push(`${name}_bucket${labels({ kind, le: '+Inf' })} ${count}`);
      out.push(`${name}_sum${labels({ kind })} ${sum}`);
      out.push(`${name}_count${labels({ kind })} ${count}`);
    }
  };
  histogram(
    'offload_job_queue_wait_seconds',
    'Time from submission until the heavy activity started (queue wait), by kind',
    (r) => ({ buckets: r.waitBuckets, count: r.waitCount, sum: r.waitSum }),
  );
  histogram(
    'offload_job_duration_seconds',
    'Time from start of the heavy activity to the outcome, by kind',
    (r) => ({ buckets: r.durationBuckets, count: r.durationCount, sum: r.durationSum }),
  );
  return `${out.join('\n')}\n`;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * `GET /metrics` behind a bearer token when `token` is set (else open). The presented token is
 * compared in constant time: both sides are hashed first, so neither the length nor a matching prefix
 * shows in the time the comparison takes.
 */
export function requireMetricsToken(token: string | undefined): MiddlewareHandler {
  const expected = token === undefined ? undefined : sha256(token);
  return async (c, next) => {
    if (expected) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
      if (!m || !timingSafeEqual(sha256(m[1]!), expected)) {
        throw new HttpProblem(
          401,
          'unauthorized',
          'Unauthorized',
          'metrics need "Authorization: Bearer <METRICS_TOKEN>"',
          {},
          { 'www-authenticate': 'Bearer realm="offload-metrics"' },
        );
      }
    }
    await next();
  };
}
