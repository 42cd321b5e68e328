/**
 * The datasets file against its sources' catalogs, at start-up: each table or view exists and may be
 * read, each declared column exists with a type that matches its declared one, the tenant column
 * exists, and the key is unique (a unique index within the key's columns, whose columns are NOT NULL;
 * a view's key is trusted only when the file says `trustKey: true`). Every problem is returned, each
 * naming the dataset and field.
 */
import type { Sql } from '../db/client.js';
import { describeRelation, type RelationFacts } from '../db/source-catalog.js';
import type { ColumnType, DatasetDef } from './registry.js';

/** The PostgreSQL types (`regtype` text) each declared type reads. */
export const PG_TYPES: Record<ColumnType, readonly string[]> = {
  integer: ['smallint', 'integer', 'bigint'],
  decimal: ['numeric', 'real', 'double precision', 'smallint', 'integer', 'bigint'],
  timestamp: ['timestamp with time zone'],
  text: ['text', 'character varying', 'character', 'name', 'citext'],
  boolean: ['boolean'],
};

const TENANT_TYPES = PG_TYPES.text;

export function checkRelation(ds: DatasetDef, facts: RelationFacts | undefined): string[] {
  const at = (field: string) => `datasets.${ds.name}.${field}`;
  const where = `${ds.schema}.${ds.table} (source ${ds.source})`;
  if (!facts) return [`${at('table')}: no table or view ${where}`];
  const problems: string[] = [];
  if (!facts.canSelect) problems.push(`${at('table')}: the source's role may not SELECT from ${where}`);
  ds.columns.forEach((c, i) => {
    const col = facts.columns.get(c.column);
    if (!col) problems.push(`${at(`columns[${i}]`)}: ${where} has no column ${c.column}`);
    else if (!PG_TYPES[c.type].includes(col.type))
      problems.push(
        `${at(`columns[${i}].type`)}: declared ${c.type}, but ${c.column} is ${col.type} (${c.type} reads ${PG_TYPES[c.type].join(', ')})`,
      );
  });
  if (ds.tenantColumn !== null) {
    const tenant = facts.columns.get(ds.tenantColumn);
    if (!tenant) problems.push(`${at('tenantColumn')}: ${where} has no column ${ds.tenantColumn}`);
    else if (!TENANT_TYPES.includes(tenant.type))
      problems.push(
        `${at('tenantColumn')}: ${ds.tenantColumn} is ${tenant.type}; a tenant column must be text`,
      );
  }
  const keyColumns = ds.key.map((k) => ds.columns.find((c) => c.name === k)!.column);
  const isView = facts.kind === 'v' || facts.kind === 'f';
  if (isView) {
    if (!ds.trustKey)
      problems.push(
        `${at('key')}: ${where} is a view, whose key no index proves unique; declare trustKey: true if (${keyColumns.join(', ')}) is unique`,
      );
  } else {
    const covered = facts.uniqueKeys.some((u) => u.length > 0 && u.every((c) => keyColumns.includes(c)));
    if (!covered && !ds.trustKey)
      problems.push(`${at('key')}: no unique index of ${where} lies within (${keyColumns.join(', ')})`);
    keyColumns.forEach((c, i) => {
      if (facts.columns.get(c) && !facts.columns.get(c)!.notNull)
        problems.push(`${at(`key[${i}]`)}: ${c} may be NULL in ${where}; key columns must be NOT NULL`);
    });
    ds.sorts.forEach((s, i) => {
      const col = ds.columns.find((c) => c.name === s);
      const fact = col && facts.columns.get(col.column);
      if (fact && !fact.notNull)
        problems.push(
          `${at(`sorts[${i}]`)}: ${col.column} may be NULL in ${where}; sort columns must be NOT NULL`,
        );
    });
  }
  return problems;
}

/** Every problem of the datasets of one source against that source's catalog. */
export async function checkSourceDatasets(sql: Sql, list: DatasetDef[]): Promise<string[]> {
  const problems: string[] = [];
  for (const ds of list)
    problems.push(...checkRelation(ds, await describeRelation(sql, ds.schema, ds.table)));
  return problems;
}
