/**
 * Job statistics for the API's /metrics, read from the database at scrape time (so every API instance
 * reports the same totals for the whole deployment): per (kind, state), the count, the bytes produced,
 * and cumulative histogram buckets of queue wait (created → started) and duration (started → finished).
 *
 * A scrape costs the same with ten or ten million jobs. Finished jobs are read from `job_stats`, which
 * triggers on `jobs` keep equal to an aggregate over its terminal rows (drizzle/0003_job_stats.sql): a
 * few rows per kind and state, never the jobs themselves. Queued and running jobs, which admission
 * bounds, are aggregated live through the state index. Both in one statement, so one snapshot: a job
 * that ends during the scrape is counted once. The histogram bounds are the database's
 * (`job_stats_bounds()`), since the triggers bucket by them.
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

export interface JobStats {
  /** Histogram bounds in seconds, ascending. */
  bounds: number[];
  /** One row per (kind, state), ordered by kind and state. */
  rows: JobStatsRow[];
}

/** One shard's row of job_stats; bucket arrays are per bucket (not cumulative), one slot past the bounds. */
interface FinishedShard {
  kind: string;
  state: string;
  jobs: number;
  bytes: string;
  waitCount: number;
  waitSum: number;
  waitBuckets: number[];
  durationCount: number;
  durationSum: number;
  durationBuckets: number[];
}

/**
 * Queued or running jobs of one (kind, state) whose wait and duration fall in one bucket each (null: no
 * start, no finish). Counted as the full scan counted them, so a row with a finish time counts too.
 */
interface ActiveBucket {
  kind: string;
  state: string;
  waitBucket: number | null;
  durationBucket: number | null;
  jobs: number;
  waitSum: number;
  durationSum: number;
  /** null when none of them has a result with bytes. */
  bytes: string | null;
}

interface Snapshot {
  bounds: number[];
  finished: FinishedShard[] | null;
  active: ActiveBucket[] | null;
}

/**
 * The statement of a scrape, exported for the test that EXPLAINs it. Everything comes back as one JSON
 * value: no array parameters or array results, which postgres.js can only handle once it has fetched
 * the array types on a connection's first query (a fresh process's first scrape must work too).
 */
export const JOB_STATS_SQL = `
  select json_build_object(
    'bounds', to_json(job_stats_bounds()),
    'finished', (
      select json_agg(json_build_object(
        'kind', kind, 'state', state, 'jobs', jobs, 'bytes', bytes::text,
        'waitCount', wait_count, 'waitSum', wait_sum, 'waitBuckets', wait_buckets,
        'durationCount', duration_count, 'durationSum', duration_sum, 'durationBuckets', duration_buckets))
      from job_stats),
    'active', (
      select json_agg(json_build_object(
        'kind', kind, 'state', state, 'waitBucket', wait_bucket, 'durationBucket', duration_bucket,
        'jobs', jobs, 'waitSum', wait_sum, 'durationSum', duration_sum, 'bytes', bytes::text))
      from (
        select kind, state, job_stats_bucket(wait) as wait_bucket,
          job_stats_bucket(duration) as duration_bucket, count(*) as jobs,
          coalesce(sum(wait), 0) as wait_sum, coalesce(sum(duration), 0) as duration_sum,
          sum(bytes) as bytes
        from (
          select kind, state,
            extract(epoch from started_at - created_at)::float8 as wait,
            extract(epoch from finished_at - started_at)::float8 as duration,
            case when jsonb_typeof(result -> 'bytes') = 'number' then (result ->> 'bytes')::numeric end as bytes
          from jobs where state in ('queued', 'running')
        ) t
        group by kind, state, wait_bucket, duration_bucket
      ) a)
  ) as stats`;

function cumulative(perBucket: number[], bounds: number[]): number[] {
  let n = 0;
  return bounds.map((_, i) => (n += perBucket[i] ?? 0));
}

/** The statistics of every (kind, state) that has or had jobs. */
export async function readJobStats(sql: Sql): Promise<JobStats> {
  const [row] = await sql.unsafe<{ stats: Snapshot }[]>(JOB_STATS_SQL);
  const { bounds, finished, active } = row!.stats;
  const slots = bounds.length + 1;
  const byKey = new Map<
    string,
    Omit<JobStatsRow, 'waitBuckets' | 'durationBuckets' | 'bytes'> & {
      bytes: bigint;
      hasBytes: boolean;
      wait: number[];
      duration: number[];
    }
  >();
  const entry = (kind: string, state: string) => {
    const key = `${kind}\u0000${state}`;
    let e = byKey.get(key);
    if (!e) {
      e = {
        kind,
        state,
        jobs: 0,
        bytes: 0n,
        hasBytes: false,
        waitCount: 0,
        waitSum: null,
        durationCount: 0,
        durationSum: null,
        wait: new Array<number>(slots).fill(0),
        duration: new Array<number>(slots).fill(0),
      };
      byKey.set(key, e);
    }
    return e;
  };
  for (const s of finished ?? []) {
    const e = entry(s.kind, s.state);
    e.jobs += s.jobs;
    // numeric, summed exactly: bytes can pass 2^53 over a deployment's life.
    e.bytes += BigInt(s.bytes.split('.')[0]!);
    e.hasBytes = true;
    e.waitCount += s.waitCount;
    e.waitSum = (e.waitSum ?? 0) + s.waitSum;
    e.durationCount += s.durationCount;
    e.durationSum = (e.durationSum ?? 0) + s.durationSum;
    s.waitBuckets.forEach((n, i) => (e.wait[i]! += n));
    s.durationBuckets.forEach((n, i) => (e.duration[i]! += n));
  }
  for (const a of active ?? []) {
    const e = entry(a.kind, a.state);
    e.jobs += a.jobs;
    if (a.bytes !== null) {
      e.bytes += BigInt(a.bytes.split('.')[0]!);
      e.hasBytes = true;
    }
    if (a.waitBucket !== null) {
      e.waitCount += a.jobs;
      e.waitSum = (e.waitSum ?? 0) + a.waitSum;
      e.wait[a.waitBucket - 1]! += a.jobs;
    }
    if (a.durationBucket !== null) {
      e.durationCount += a.jobs;
      e.durationSum = (e.durationSum ?? 0) + a.durationSum;
      e.duration[a.durationBucket - 1]! += a.jobs;
    }
  }
  const rows = [...byKey.values()]
    // A (kind, state) whose jobs all moved on or were deleted keeps a row of zeros in job_stats; the
    // full scan never reported it, so neither does this.
    .filter((e) => e.jobs !== 0)
    .map((e): JobStatsRow => ({
      kind: e.kind,
      state: e.state,
      jobs: e.jobs,
      bytes: e.hasBytes ? String(e.bytes) : null,
      waitBuckets: cumulative(e.wait, bounds),
      waitCount: e.waitCount,
      waitSum: e.waitSum,
      durationBuckets: cumulative(e.duration, bounds),
      durationCount: e.durationCount,
      durationSum: e.durationSum,
    }))
    .sort((x, y) => (x.kind === y.kind ? cmp(x.state, y.state) : cmp(x.kind, y.kind)));
  return { bounds, rows };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
