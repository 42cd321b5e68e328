/** Counting the rows an export's tenant and filters match, before any work starts. */
import type { Sql } from './client.js';

/** The table and condition of a dataset query, as SQL text built by `ExportQuery` (src/datasets). */
export interface RowSource {
  from: string;
  where: string;
}

/**
 * Whether `source` matches more than `limit` rows. Counting stops at limit + 1: the answer is only
 * "over or not", so a huge table costs no more than the limit.
 */
export async function matchesMoreThan(sql: Sql, source: RowSource, limit: number): Promise<boolean> {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new Error(`not a row limit: ${limit}`);
  const [row] = await sql.unsafe<{ n: string }[]>(
    `select count(*)::bigint as n from (select 1 from ${source.from} where ${source.where} limit ${limit + 1}) x`,
  );
  return Number(row?.n ?? 0) > limit;
}
