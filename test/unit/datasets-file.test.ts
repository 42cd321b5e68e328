/** The datasets file: zod validation, cross-field checks, every problem at once; the catalog comparison. */
import { describe, expect, it } from 'vitest';
import { checkRelation } from '../../src/datasets/catalog-check.js';
import {
  DatasetsFileError,
  demoDatasetsFile,
  parseDatasets,
  readDatasetsFile,
} from '../../src/datasets/file.js';
import { sourceUrls } from '../../src/datasets/load.js';
import { ExportQuery } from '../../src/datasets/query.js';
import type { RelationFacts } from '../../src/db/source-catalog.js';

function problemsOf(text: string): string[] {
  try {
    parseDatasets(text, 'test.yaml');
  } catch (err) {
    if (err instanceof DatasetsFileError) return err.problems;
    throw err;
  }
  throw new Error('the file was accepted');
}

const good = `
sources:
  shop: { urlFrom: SHOP_DATABASE_URL }
datasets:
  sales:
    source: shop
    table: reporting.sales_view
    trustKey: true
    tenantColumn: account
    key: [region, sale_id]
    columns:
      - { name: sale_id, column: id, type: integer }
      - { name: region, type: text }
      - { name: total, type: decimal, decimals: 2 }
      - { name: paid, type: boolean }
      - { name: at, type: timestamp }
    filters:
      - { name: region, kind: eq }
      - { name: prefix, column: region, kind: prefix }
      - { name: total, kind: range }
      - { name: paid, kind: eq }
    sorts: [total]
    defaultSort: { column: total, direction: desc }
    maxRows: 1000
  everything:
    global: true
    table: public.audit
    key: [id]
    columns: [{ name: id, type: integer }]
`;

describe('the datasets file', () => {
  it('turns a valid file into datasets with SQL names, sources and the default sort', () => {
    const catalog = parseDatasets(good, 'good.yaml');
    const sales = catalog.datasets.sales!;
    expect(sales).toMatchObject({
      source: 'shop',
      schema: 'reporting',
      table: 'sales_view',
      tenantColumn: 'account',
      key: ['region', 'sale_id'],
      trustKey: true,
      maxRows: 1000,
      defaultSort: { column: 'total', direction: 'desc' },
    });
    expect(sales.columns[0]).toMatchObject({ name: 'sale_id', column: 'id', label: 'sale_id' });
    expect(sales.filters.find((f) => f.name === 'prefix')).toMatchObject({
      column: 'region',
      kind: 'prefix',
      type: 'text',
    });
    expect(catalog.datasets.everything!.tenantColumn).toBeNull();
    expect(catalog.sources.shop).toEqual({ name: 'shop', urlVariable: 'SHOP_DATABASE_URL' });
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({
      datasets: {
        t: { table: 's.t', tenantColumn: 'tenant', key: ['id'], columns: [{ name: 'id', type: 'integer' }] },
      },
    });
    expect(Object.keys(parseDatasets(json, 'f.json').datasets)).toEqual(['t']);
  });

  it('ships a demo file with orders and customers', () => {
    expect(Object.keys(readDatasetsFile(demoDatasetsFile()).datasets)).toEqual(['orders', 'customers']);
  });

  it('reports every schema problem at once, each with its dataset and field', () => {
    const problems = problemsOf(`
datasets:
  orders:
    table: orders
    key: []
    tenantColumn: "bad name"
    columns:
      - { name: id, type: int }
      - { name: Amount, type: decimal, width: -1 }
    colour: blue
`);
    const fields = problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual(
      expect.arrayContaining([
        'datasets.orders.table',
        'datasets.orders.key',
        'datasets.orders.tenantColumn',
        'datasets.orders.columns[0].type',
        'datasets.orders.columns[1].name',
        'datasets.orders.columns[1].width',
        'datasets.orders',
      ]),
    );
    expect(problems.find((p) => p.startsWith('datasets.orders:'))).toMatch(/colour/);
  });

  it('reports every cross-field problem at once', () => {
    const problems = problemsOf(`
datasets:
  a:
    source: nowhere
    table: s.a
    key: [id, note, missing]
    columns:
      - { name: id, type: integer }
      - { name: id, type: text, decimals: 2 }
      - { name: note, type: text, nullable: true }
    filters:
      - { name: note, kind: range }
      - { name: ghost, kind: eq }
    sorts: [note, nope]
    defaultSort: { column: id }
  b:
    global: true
    tenantColumn: t
    table: s.b
    key: [id]
    columns: [{ name: id, type: integer }]
`);
    const fields = problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual(
      expect.arrayContaining([
        'datasets.a.source',
        'datasets.a.tenantColumn',
        'datasets.a.key[1]',
        'datasets.a.key[2]',
        'datasets.a.columns[1].name',
        'datasets.a.columns[1].decimals',
        'datasets.a.filters[0].kind',
        'datasets.a.filters[1].column',
        'datasets.a.sorts[0]',
        'datasets.a.sorts[1]',
        'datasets.b.tenantColumn',
      ]),
    );
    // defaultSort on a key column is fine.
    expect(fields).not.toContain('datasets.a.defaultSort.column');
  });

  it('refuses a file that is not YAML, or that declares no dataset', () => {
    expect(problemsOf('datasets: [unclosed')[0]).toMatch(/not valid YAML or JSON/);
    expect(problemsOf('datasets: {}')[0]).toMatch(/^datasets: must declare at least one dataset/);
    expect(
      problemsOf(
        'sources: { default: { urlFrom: X } }\ndatasets: { a: { global: true, table: s.a, key: [id], columns: [{name: id, type: integer}] } }',
      )[0],
    ).toMatch(/^sources\.default/);
  });

  it('takes each source URL from the variable the file names, never from the file', () => {
    const catalog = parseDatasets(good, 'good.yaml');
    const env: Record<string, string> = { SHOP_DATABASE_URL: 'postgres://reader@shop/db' };
    const base = {
      DATASETS_FILE: undefined,
      SOURCE_DATABASE_URL: 'postgres://src/db',
      DATABASE_URL: 'postgres://state/db',
    };
    expect(sourceUrls({ ...base, variable: (n) => env[n] }, catalog)).toEqual({
      urls: { default: 'postgres://src/db', shop: 'postgres://reader@shop/db' },
      problems: [],
    });
    expect(
      sourceUrls({ ...base, SOURCE_DATABASE_URL: undefined, variable: () => undefined }, catalog),
    ).toEqual({
      urls: { default: 'postgres://state/db' },
      problems: ['sources.shop.urlFrom: SHOP_DATABASE_URL is not set'],
    });
  });
});

describe('the check against a source catalog', () => {
  const catalog = parseDatasets(good, 'good.yaml');
  const sales = catalog.datasets.sales!;
  const everything = catalog.datasets.everything!;
  const facts = (over: Partial<RelationFacts> = {}): RelationFacts => ({
    kind: 'r',
    canSelect: true,
    columns: new Map([
      ['id', { type: 'bigint', notNull: true }],
      ['region', { type: 'text', notNull: true }],
      ['total', { type: 'numeric', notNull: true }],
      ['paid', { type: 'boolean', notNull: true }],
      ['at', { type: 'timestamp with time zone', notNull: false }],
      ['account', { type: 'character varying', notNull: true }],
    ]),
    uniqueKeys: [['id']],
    ...over,
  });

  it('accepts a table whose columns, types, tenant column and unique key match', () => {
    expect(checkRelation(sales, facts())).toEqual([]);
  });

  it('names a missing relation, a missing column, a type mismatch and a role that may not read', () => {
    expect(checkRelation(sales, undefined)).toEqual([
      'datasets.sales.table: no table or view reporting.sales_view (source shop)',
    ]);
    const columns = facts().columns;
    columns.delete('paid');
    columns.set('at', { type: 'timestamp without time zone', notNull: true });
    columns.set('account', { type: 'uuid', notNull: true });
    const problems = checkRelation(sales, facts({ columns, canSelect: false }));
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'datasets.sales.table',
      'datasets.sales.columns[3]',
      'datasets.sales.columns[4].type',
      'datasets.sales.tenantColumn',
    ]);
  });

  it('wants a unique index within the key, NOT NULL key columns, or trustKey on a view', () => {
    const untrusted = { ...sales, trustKey: false };
    expect(checkRelation(untrusted, facts({ uniqueKeys: [['id', 'at']] }))).toEqual([
      'datasets.sales.key: no unique index of reporting.sales_view (source shop) lies within (region, id)',
    ]);
    expect(checkRelation(untrusted, facts({ uniqueKeys: [['region', 'id']] }))).toEqual([]);
    expect(checkRelation(untrusted, facts({ kind: 'v', uniqueKeys: [] }))[0]).toMatch(
      /^datasets\.sales\.key: .* is a view/,
    );
    expect(checkRelation(sales, facts({ kind: 'v', uniqueKeys: [] }))).toEqual([]);
    const nullableKey = facts().columns;
    nullableKey.set('region', { type: 'text', notNull: false });
    expect(checkRelation(sales, facts({ columns: nullableKey }))).toEqual([
      'datasets.sales.key[0]: region may be NULL in reporting.sales_view (source shop); key columns must be NOT NULL',
    ]);
  });

  it('builds tenant-scoped SQL from the file, and no tenant condition for a global dataset', () => {
    const q = new ExportQuery(sales, "o'brien", {
      filters: { region: 'eu', prefix: 'e', paid: true, total: { from: 5 } },
    });
    expect(q.from).toBe('"reporting"."sales_view"');
    expect(q.where).toBe(
      `"account" = 'o''brien' and "region" = 'eu'::text and starts_with("region", 'e') and "paid" = true and "total" >= '5'::numeric`,
    );
    // The default sort, then the key.
    expect(q.orderBy).toBe('"total" desc, "region" desc, "id" desc');
    expect(new ExportQuery(everything, 'acme', {}).where).toBe('true');
  });
});
