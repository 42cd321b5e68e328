/** What a source's catalog says about a table or view: the facts the datasets file is checked against. */
import type { Sql } from './client.js';

export interface RelationFacts {
  /** pg_class.relkind: r table, p partitioned table, v view, m materialized view, f foreign table. */
  kind: string;
  /** Whether the connected role may SELECT from it. */
  canSelect: boolean;
  columns: Map<string, { type: string; notNull: boolean }>;
  /** Column sets of its valid, non-partial unique indexes on plain columns. */
  uniqueKeys: string[][];
}

/** The facts of `schema.name`, or undefined when no such relation exists. */
export async function describeRelation(
  sql: Sql,
  schema: string,
  name: string,
): Promise<RelationFacts | undefined> {
  const [rel] = await sql<{ oid: number; kind: string; canSelect: boolean }[]>`
    select c.oid::int as oid, c.relkind::text as kind, has_table_privilege(c.oid, 'select') as "canSelect"
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relname = ${name} and c.relkind in ('r', 'p', 'v', 'm', 'f')`;
  if (!rel) return undefined;
  // A domain counts as its base type.
  const cols = await sql<{ name: string; type: string; notNull: boolean }[]>`
    select a.attname as name,
           coalesce(nullif(t.typbasetype, 0), t.oid)::regtype::text as type,
           a.attnotnull as "notNull"
    from pg_attribute a join pg_type t on t.oid = a.atttypid
    where a.attrelid = ${rel.oid} and a.attnum > 0 and not a.attisdropped`;
  const keys = await sql<{ cols: string[] }[]>`
    select array(
      select a.attname::text from unnest(i.indkey) k join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k
    ) as cols
    from pg_index i
    where i.indrelid = ${rel.oid} and i.indisunique and i.indisvalid and i.indpred is null and i.indexprs is null`;
  return {
    kind: rel.kind,
    canSelect: rel.canSelect,
    columns: new Map(cols.map((c) => [c.name, { type: c.type, notNull: c.notNull }])),
    uniqueKeys: keys.map((k) => k.cols),
  };
}
