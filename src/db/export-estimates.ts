/**
 * The facts an export estimate is made of: how many rows a request matches (exact under a cap, else
 * the planner's estimate; the same count tells whether it is over the row limit) on its source, and what recent finished exports of the same dataset and
 * format wrote and how fast, from the state database.
 */
import type { Sql } from './client.js';

/** The table and condition of a dataset query, as SQL text built by `ExportQuery` (src/datasets). */
export interface RowSource {
  from: string;
  where: string;
}

/** The exact count when it is at most `cap`, else undefined (counting stops at cap + 1). */
export async function countUpTo(sql: Sql, source: RowSource, cap: number): Promise<number | undefined> {
  if (!Number.isSafeInteger(cap) || cap < 0) throw new Error(`not a cap: ${cap}`);
  const [row] = await sql.unsafe<{ n: string }[]>(
    `select count(*)::bigint as n from (select 1 from ${source.from} where ${source.where} limit ${cap + 1}) x`,
  );
  const n = Number(row?.n ?? 0);
  return n > cap ? undefined : n;
}

/** The planner's row estimate of the request's rows (EXPLAIN, nothing run). */
export async function plannedRows(sql: Sql, source: RowSource): Promise<number> {
  const [row] = await sql.unsafe<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }[]>(
    `explain (format json) select 1 from ${source.from} where ${source.where}`,
  );
  return Math.round(row?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0);
}

export interface ExportHistory {
  /** Finished exports it is made of (the most recent, at most 20). */
  jobs: number;
  rows: number;
  bytes: number;
  /** Seconds between their start and finish, summed. */
  seconds: number;
}

/** What the latest succeeded exports of `dataset` as `variant` (format, with its compression) wrote. */
export async function exportHistory(
  sql: Sql,
  dataset: string,
  format: string,
  compression: string | null,
): Promise<ExportHistory> {
  const [row] = await sql<{ jobs: number; rows: number; bytes: number; seconds: number }[]>`
    select count(*)::int as jobs, coalesce(sum(rows), 0)::float8 as rows, coalesce(sum(bytes), 0)::float8 as bytes,
           coalesce(sum(seconds), 0)::float8 as seconds
    from (
      select (result->>'rows')::float8 as rows, (result->>'bytes')::float8 as bytes,
             extract(epoch from finished_at - started_at)::float8 as seconds
      from jobs
      where kind = 'export' and state = 'succeeded' and request->>'dataset' = ${dataset}
        and request->>'format' = ${format}
        and coalesce(request->>'compression', 'none') = ${compression ?? 'none'}
        and (result->>'rows')::float8 > 0 and started_at is not null and finished_at is not null
      order by finished_at desc nulls last
      limit 20
    ) recent`;
  return row ?? { jobs: 0, rows: 0, bytes: 0, seconds: 0 };
}
