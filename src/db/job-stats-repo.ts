/**
 * Job statistics for the API's /metrics, read from the jobs table at scrape time (so every API instance
 * reports the same totals for the whole deployment): per (kind, state), the count, the bytes produced,
 * and cumulative histogram buckets of queue wait (created → started) and duration (started → finished).
 */
import type { Sql } from './client.js';

export interface JobStatsRow {
  kind: string;
  state: string;
  jobs: number;
  bytes: string | null;
  /** Jobs whose queue wait is at most each bound, in the order of the bounds. */
  waitBuckets: number[];
  waitCount: number;
  waitSum: number | null;
  /** Jobs whose duration is at most each bound, in the order of the bounds. */
  durationBuckets: number[];
  durationCount: number;
  durationSum: number | null;
}

/** The rows per (kind, state), ordered by kind and state; `bounds` are the histogram bounds in seconds. */
export async function readJobStats(sql: Sql, bounds: readonly number[]): Promise<JobStatsRow[]> {
  // An array literal in a text parameter, cast by the server: sql.array() needs the array types that
  // postgres.js fetches on a connection's first query, so a fresh process's first scrape sent a
  // malformed array literal (500).
  const le = `{${bounds.join(',')}}`;
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
