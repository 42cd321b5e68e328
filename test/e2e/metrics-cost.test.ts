/**
 * /metrics' job statistics on databases of their own (created on the run's PostgreSQL server, so bulk
 * loads and trigger switches touch no other test): a fresh pool's first query is a scrape and works;
 * `job_stats`, kept by triggers, makes /metrics report exactly what the full-table aggregate it replaced
 * reported, after every kind of change, and so does its backfill when the migration runs on a database
 * that already has jobs; and a scrape reads the same number of pages with 40,000 or 200,000 finished
 * jobs, through indexes, never scanning `jobs` (while the full-table aggregate grows with them, so the
 * measure can tell the difference).
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createDatabase, type Database, type Sql } from '../../src/db/client.js';
import { JOB_STATS_SQL, readJobStats, type JobStatsRow } from '../../src/db/job-stats-repo.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { migrateBefore } from '../helpers/migrations.js';
import { createApiMetrics, formatJobStats } from '../../src/server/http/metrics.js';

/** The histogram bounds /metrics had before job_stats (its JOB_BUCKETS constant). */
const BOUNDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

let admin: Sql;
let url: string;
let database: Database;
const databases: string[] = [];

/** A new, empty database on the run's server; its URL. */
async function createOwnDatabase(): Promise<string> {
  const base = new URL(inject('databaseUrl'));
  const name = `offload_metrics_${randomUUID().slice(0, 8)}`;
  await admin.unsafe(`create database ${name}`);
  databases.push(name);
  const own = new URL(base);
  own.pathname = `/${name}`;
  return own.toString();
}

beforeAll(async () => {
  const adminUrl = new URL(inject('databaseUrl'));
  adminUrl.pathname = '/postgres';
  admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  url = await createOwnDatabase();
  await migrateDatabase(url);
  database = createDatabase(url, { max: 4 });
});

afterAll(async () => {
  await database?.close();
  if (admin) {
    for (const name of databases) await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});

/**
 * The aggregate /metrics computed before job_stats existed, over the whole jobs table: the oracle the
 * incremental statistics must equal.
 */
async function fullScanStats(sql: Sql): Promise<JobStatsRow[]> {
  const le = `{${BOUNDS.join(',')}}`;
  return sql<JobStatsRow[]>`
    with timed as (
      select kind::text, state::text, (result->>'bytes')::bigint as bytes,
        extract(epoch from started_at - created_at)::float8 as wait,
        extract(epoch from finished_at - started_at)::float8 as duration
      from jobs
    ),
    buckets as (
      select t.kind, t.state,
        array_agg(t.wait_n order by t.le) as wait_buckets,
        array_agg(t.duration_n order by t.le) as duration_buckets
      from (
        select kind, state, le,
          (count(*) filter (where wait <= le))::int as wait_n,
          (count(*) filter (where duration <= le))::int as duration_n
        from timed cross join unnest(${le}::float8[]) as le
        group by kind, state, le
      ) t
      group by t.kind, t.state
    )
    select g.kind, g.state, g.jobs, g.bytes,
      b.wait_buckets as "waitBuckets", g.wait_count as "waitCount", g.wait_sum as "waitSum",
      b.duration_buckets as "durationBuckets", g.duration_count as "durationCount", g.duration_sum as "durationSum"
    from (
      select kind, state, count(*)::int as jobs, sum(bytes)::text as bytes,
        count(wait)::int as wait_count, sum(wait) as wait_sum,
        count(duration)::int as duration_count, sum(duration) as duration_sum
      from timed group by kind, state
    ) g
    join buckets b using (kind, state)
    order by g.kind, g.state`;
}

/**
 * Compare what readJobStats reports with the oracle, (kind, state) by (kind, state), and the job
 * metrics /metrics renders from each: the same series with the same values (sums of seconds to the
 * millisecond, as floating-point sums added in another order may differ in the last digits).
 */
function expectSameStats(actual: JobStatsRow[], expected: JobStatsRow[]): void {
  expect(actual.map((r) => `${r.kind}/${r.state}`)).toEqual(expected.map((r) => `${r.kind}/${r.state}`));
  for (const [i, e] of expected.entries()) {
    const a = actual[i]!;
    const where = `${e.kind}/${e.state}`;
    expect(a.jobs, where).toBe(e.jobs);
    expect(BigInt(a.bytes ?? '0'), where).toBe(BigInt(e.bytes ?? '0'));
    expect(a.waitCount, where).toBe(e.waitCount);
    expect(a.durationCount, where).toBe(e.durationCount);
    expect(a.waitBuckets, where).toEqual(e.waitBuckets);
    expect(a.durationBuckets, where).toEqual(e.durationBuckets);
    expect(a.waitSum ?? 0, where).toBeCloseTo(e.waitSum ?? 0, 3);
    expect(a.durationSum ?? 0, where).toBeCloseTo(e.durationSum ?? 0, 3);
  }
  const reported = samples(formatJobStats({ bounds: BOUNDS, rows: actual }));
  const before = samples(formatJobStats({ bounds: BOUNDS, rows: expected }));
  expect([...reported.keys()]).toEqual([...before.keys()]);
  for (const [series, value] of before) {
    if (/_sum\{/.test(series)) expect(reported.get(series), series).toBeCloseTo(value, 3);
    else expect(reported.get(series), series).toBe(value);
  }
}

/** The samples of a Prometheus text exposition, by series (name and labels). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** No shard of job_stats holds a negative count: every job's contribution sits where it is removed from. */
async function expectNoNegativeShard(sql: Sql): Promise<void> {
  const [row] = await sql<{ negative: number }[]>`
    select count(*)::int as negative from job_stats
    where jobs < 0 or wait_count < 0 or duration_count < 0 or bytes < 0
       or exists (select 1 from unnest(wait_buckets || duration_buckets) as n where n < 0)`;
  expect(row!.negative).toBe(0);
}

async function addUser(sql: Sql): Promise<string> {
  const id = `usr_${randomUUID().slice(0, 12)}`;
  await sql`insert into users (id, name, tenant_id) values (${id}, ${id}, 't-metrics')`;
  return id;
}

describe('the job statistics of /metrics', () => {
  it("answer a fresh pool's first query (a fresh API process's first scrape)", async () => {
    const fresh = createDatabase(url, { max: 1 });
    try {
      const text = await createApiMetrics(fresh.sql).render();
      expect(text).toMatch(/^# TYPE offload_jobs_submitted_total counter$/m);
      expect(text).toMatch(/^# TYPE offload_job_duration_seconds histogram$/m);
    } finally {
      await fresh.close();
    }
  });

  it('use the bounds of the database, which the triggers bucket by', async () => {
    expect((await readJobStats(database.sql)).bounds).toEqual(BOUNDS);
  });

  it('equal an aggregate over every job, after inserts, transitions, corrections, expiry and deletes', async () => {
    const { sql } = database;
    const userId = await addUser(sql);
    const kinds = ['export', 'audio', 'thumbnail'];
    const ids = Array.from({ length: 240 }, (_, i) => `job_stats_${i}`);
    // Created at various times in the last two hours, so waits and durations fall in many buckets.
    await sql.unsafe(
      `insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id, created_at)
       select id, $1, 't-metrics', ($2::text[])[1 + (n % 3)], 'queued', '{}', 'wf-' || id,
              now() - (n * 29 % 7000) * interval '1 second'
       from unnest($3::text[]) with ordinality as t(id, n)`,
      [userId, `{${kinds.join(',')}}`, `{${ids.join(',')}}`],
    );
    // Concurrently, from four connections, one job per statement as the workers do: start most, then
    // end them every way there is.
    const lanes = [0, 1, 2, 3].map(async (lane) => {
      for (const [i, id] of ids.entries()) {
        if (i % 4 !== lane) continue;
        if (i % 10 === 9) {
          // Cancelled before it started.
          await sql`update jobs set state = 'cancelled', finished_at = now() where id = ${id}`;
          continue;
        }
        const wait = (i * 37) % 4000;
        await sql`update jobs set state = 'running', started_at = created_at + ${wait} * interval '1 second'
                  where id = ${id}`;
        if (i % 10 === 8) continue; // still running
        const duration = (i * 53) % 9000;
        const finished = sql`started_at + ${duration} * interval '1 second'`;
        if (i % 10 < 5) {
          const result = { bytes: 1000 * i + 7, rows: i };
          await sql`update jobs set state = 'succeeded', finished_at = ${finished}, result = ${JSON.stringify(result)}::jsonb
                    where id = ${id}`;
        } else {
          await sql`update jobs set state = 'failed', finished_at = ${finished} where id = ${id}`;
        }
      }
    });
    await Promise.all(lanes);
    // A job recorded as finished at once, without a start.
    await sql`insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id, finished_at)
              values ('job_stats_direct', ${userId}, 't-metrics', 'export', 'failed', '{}', 'wf-direct', now())`;
    // Expiry of some succeeded results, writes to finished jobs that change nothing counted, a
    // corrected finish time, deletes, and one statement cancelling every job still running.
    await sql`update jobs set state = 'expired' where id in ('job_stats_0', 'job_stats_11', 'job_stats_22')`;
    await sql`update jobs set attempts = attempts + 1, checkpoint = null where state in ('succeeded', 'failed')`;
    await sql`update jobs set finished_at = finished_at + interval '3 hours' where id = 'job_stats_5'`;
    await sql`update jobs set result = '{"bytes": 1}' where id = 'job_stats_13'`;
    await sql`delete from jobs where id in ('job_stats_1', 'job_stats_16', 'job_stats_19')`;
    await sql`update jobs set state = 'cancelled', finished_at = now() where state = 'running' and user_id = ${userId}`;

    const expected = await fullScanStats(sql);
    expect(expected.map((r) => r.state)).toEqual(expect.arrayContaining(['cancelled', 'expired', 'failed']));
    expectSameStats((await readJobStats(sql)).rows, expected);
    // A few rows per kind and state, however many jobs.
    const [counted] = await sql<{ n: number }[]>`select count(*)::int as n from job_stats`;
    expect(counted!.n).toBeLessThanOrEqual(kinds.length * 4 * 16);

    // Queued and running jobs come from jobs itself, and count too.
    await sql`insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id, started_at)
              values ('job_stats_live', ${userId}, 't-metrics', 'audio', 'running', '{}', 'wf-live', now())`;
    expectSameStats((await readJobStats(sql)).rows, await fullScanStats(sql));
    await expectNoNegativeShard(sql);
  });

  it('are backfilled from the jobs already there when the migration runs on an existing database', async () => {
    const existing = await createOwnDatabase();
    // The schema before job_stats: the migrations up to it.
    await migrateBefore(existing, '0003_job_stats');

    const db = createDatabase(existing, { max: 2 });
    try {
      const { sql } = db;
      const [before] = await sql<
        { present: boolean }[]
      >`select to_regclass('job_stats') is not null as present`;
      expect(before!.present).toBe(false);
      const userId = await addUser(sql);
      // Jobs of every state, kind and timing, some without a start, a result or bytes, some on a
      // bucket bound exactly (a wait of 60 s or 2.5 s counts in the 60 s or 2.5 s bucket).
      await sql.unsafe(
        `insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id,
           created_at, started_at, finished_at, result)
         select 'old_' || g, $1, 't-metrics', kind, state::job_state, '{}', 'wf-old-' || g, created,
           case when state = 'queued' or g % 7 = 0 then null
                else created + ((g * 37) % 4000) * interval '1 second' end,
           case when state in ('queued', 'running') then null
                else created + ((g * 37) % 4000 + (g * 53) % 9000) * interval '1 second' end,
           case when state in ('succeeded', 'expired') then jsonb_build_object('bytes', 1000 * g + 7, 'rows', g)
                when g % 5 = 0 then '{"rows": 1}'::jsonb end
         from (
           select g, (array['export', 'audio', 'thumbnail'])[1 + g % 3] as kind,
             (array['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'])[1 + (g / 3) % 6] as state,
             now() - interval '5 hours' + (g % 3000) * interval '1 second' as created
           from generate_series(1, 3000) g
         ) t`,
        [userId],
      );
      await sql`insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id,
                  created_at, started_at, finished_at, result)
                values
                  ('old_bound_a', ${userId}, 't-metrics', 'export', 'succeeded', '{}', 'wf-a',
                   now() - interval '1 hour', now() - interval '1 hour' + interval '60 seconds',
                   now() - interval '1 hour' + interval '62.5 seconds', '{"bytes": 5}'),
                  ('old_bound_b', ${userId}, 't-metrics', 'audio', 'failed', '{}', 'wf-b',
                   now() - interval '1 hour', now() - interval '1 hour' + interval '2.5 seconds',
                   now() - interval '1 hour' + interval '2.75 seconds', null)`;
      // What /metrics reported before the migration: the full-table aggregate.
      const expected = await fullScanStats(sql);
      expect(expected.map((r) => r.state)).toEqual(
        expect.arrayContaining(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired']),
      );

      await migrateDatabase(existing);
      expectSameStats((await readJobStats(sql)).rows, expected);
      await expectNoNegativeShard(sql);

      // The triggers carry on from the backfill: later changes of jobs that ended before it move their
      // contribution out of the shard the backfill put it in.
      await sql`update jobs set state = 'expired' where state = 'succeeded' and id like 'old_1%'`;
      await sql`update jobs set finished_at = finished_at + interval '2 hours' where id in ('old_12', 'old_13', 'old_bound_b')`;
      await sql`update jobs set result = '{"bytes": 3}' where id = 'old_bound_a'`;
      await sql`delete from jobs where id in ('old_14', 'old_15', 'old_16', 'old_17')`;
      await sql`update jobs set state = 'cancelled', finished_at = now() where state = 'running' and id like 'old_2%'`;
      expectSameStats((await readJobStats(sql)).rows, await fullScanStats(sql));
      await expectNoNegativeShard(sql);
    } finally {
      await db.close();
    }
  });

  it('cost the same with 40,000 or 200,000 finished jobs: indexes only, no scan of jobs', async () => {
    const { sql } = database;
    const userId = await addUser(sql);
    await sql`insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id, started_at)
              select 'live_' || g, ${userId}, 't-metrics', 'export',
                     (case when g % 2 = 0 then 'queued' else 'running' end)::job_state, '{}', 'wf-live-' || g,
                     case when g % 2 = 0 then null else now() end
              from generate_series(1, 40) g`;

    // Finished jobs loaded in bulk with the statistics triggers off: one statement ending 100,000s of
    // jobs is not how jobs end (one transaction each), and what is measured here is the scrape, whose
    // job_stats part has at most kinds x states x 16 rows whatever the load.
    const loadFinished = async (from: number, to: number) => {
      await sql`alter table jobs disable trigger job_stats_insert`;
      try {
        await sql`insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id,
                    created_at, started_at, finished_at, result)
                  select 'done_' || g, ${userId}, 't-metrics', (array['export', 'audio'])[1 + g % 2],
                    (array['succeeded', 'failed', 'cancelled', 'expired'])[1 + g % 4]::job_state,
                    '{"dataset": "orders", "format": "csv"}', 'wf-done-' || g,
                    now() - interval '2 hours', now() - interval '1 hour', now(), '{"bytes": 1000}'
                  from generate_series(${from}::int, ${to}::int) g`;
      } finally {
        await sql`alter table jobs enable trigger job_stats_insert`;
      }
      await sql`analyze jobs`;
      // As autovacuum does between scrapes in production.
      await sql`vacuum job_stats`;
    };
    /** Pages (shared buffers hit or read) a statement touches, and the tables it scans sequentially. */
    const measure = async (statement: string) => {
      const [row] = await sql.unsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(
        `explain (analyze, buffers, format json) ${statement}`,
      );
      const plan = row!['QUERY PLAN'][0].Plan;
      const seqScans: string[] = [];
      const walk = (node: PlanNode) => {
        if (node['Node Type'] === 'Seq Scan') seqScans.push(node['Relation Name'] ?? '?');
        for (const child of node.Plans ?? []) walk(child);
      };
      walk(plan);
      return { pages: plan['Shared Hit Blocks'] + plan['Shared Read Blocks'], seqScans };
    };
    const oracle = `select * from (${fullScanSql()}) x`;

    await loadFinished(1, 40_000);
    const small = await measure(JOB_STATS_SQL);
    const smallOracle = await measure(oracle);
    await loadFinished(40_001, 200_000);
    const large = await measure(JOB_STATS_SQL);
    const largeOracle = await measure(oracle);
    const [size] = await sql<{ pages: number }[]>`
      select (pg_relation_size('jobs') / current_setting('block_size')::int)::int as pages`;
    const jobsPages = size!.pages;

    expect(small.seqScans).not.toContain('jobs');
    expect(large.seqScans).not.toContain('jobs');
    // The same pages, give or take an index level, for five times the finished jobs.
    expect(large.pages).toBeLessThanOrEqual(small.pages + 4);
    expect(large.pages).toBeLessThan(jobsPages / 50);
    // The measure can fail: the whole-table aggregate reads every page, and grows with the jobs.
    expect(largeOracle.seqScans).toContain('jobs');
    expect(largeOracle.pages).toBeGreaterThan(smallOracle.pages * 3);
    expect(largeOracle.pages).toBeGreaterThan(jobsPages * 0.9);
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  Plans?: PlanNode[];
}

/** The oracle's statement as text, for EXPLAIN (the same aggregate as fullScanStats). */
function fullScanSql(): string {
  return `
    select kind, state, count(*) as jobs, sum((result->>'bytes')::bigint) as bytes,
      count(started_at) as waits,
      count(*) filter (where extract(epoch from finished_at - started_at) <= 60) as quick
    from jobs group by kind, state`;
}
