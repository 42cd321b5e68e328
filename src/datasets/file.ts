/**
 * The datasets file (DATASETS_FILE, YAML or JSON): its schema (zod) and what it becomes, the Catalog of
 * ./registry.ts. Everything wrong with a file is reported at once, each problem naming the dataset and
 * field (`datasets.orders.columns[2].type: …`); a file with any problem is never used, not in part.
 * Identifiers (schema, table, columns) are only ever taken from here and always quoted in SQL.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Catalog, ColumnDef, ColumnType, DatasetDef, FilterDef, SourceDef } from './registry.js';

/** The source that SOURCE_DATABASE_URL (or, unset, DATABASE_URL) names. */
export const DEFAULT_SOURCE = 'default';

/** The shipped demo file (`orders`, `customers` on the state database), used when DATASETS_FILE is unset. */
export function demoDatasetsFile(): string {
  return fileURLToPath(new URL('../../examples/datasets.yaml', import.meta.url));
}

export class DatasetsFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `The datasets file ${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'DatasetsFileError';
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const ident = z.string().regex(IDENT, 'must be an SQL identifier (letters, digits, _ and $, up to 63)');
const apiName = z.string().regex(NAME, 'must be lower-case letters, digits and _ (up to 63), from a letter');
const COLUMN_TYPES = ['text', 'integer', 'decimal', 'timestamp', 'boolean'] as const;

const columnSchema = z.strictObject({
  name: apiName,
  column: ident.optional(),
  label: z.string().min(1).max(200).optional(),
  type: z.enum(COLUMN_TYPES, { error: `must be one of: ${COLUMN_TYPES.join(', ')}` }),
  decimals: z.number().int().min(0).max(10).optional(),
  width: z.number().positive().max(100).optional(),
  nullable: z.boolean().optional(),
});

const filterSchema = z.strictObject({
  name: apiName,
  /** The filtered column, by its name in `columns` (default: the filter's name). */
  column: apiName.optional(),
  kind: z.enum(['range', 'in', 'eq', 'prefix'], { error: 'must be one of: range, in, eq, prefix' }),
  values: z.array(z.string().min(1).max(200)).min(1).max(1000).optional(),
});

const datasetSchema = z.strictObject({
  title: z.string().min(1).max(200).optional(),
  source: apiName.optional(),
  /** `schema.name` of a table or view. */
  table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}\.[A-Za-z_][A-Za-z0-9_$]{0,62}$/, {
    error: 'must be schema-qualified: schema.name (SQL identifiers)',
  }),
  key: z.array(apiName).min(1).max(4),
  trustKey: z.boolean().optional(),
  tenantColumn: ident.optional(),
  global: z.boolean().optional(),
  columns: z.array(columnSchema).min(1).max(200),
  filters: z.array(filterSchema).max(100).default([]),
  sorts: z.array(apiName).max(200).default([]),
  defaultSort: z
    .strictObject({ column: apiName, direction: z.enum(['asc', 'desc']).default('asc') })
    .optional(),
  maxRows: z.number().int().positive().optional(),
});

const sourceSchema = z.strictObject({
  /** The environment variable holding the source's URL (the file never holds a URL or password). */
  urlFrom: z.string().regex(/^[A-Z_][A-Z0-9_]{0,99}$/, 'must be an environment variable name (A-Z, 0-9, _)'),
});

const fileSchema = z.strictObject({
  sources: z.record(apiName, sourceSchema).default({}),
  datasets: z
    .record(apiName, datasetSchema)
    .refine((d) => Object.keys(d).length > 0, 'must declare at least one dataset'),
});

type DatasetInput = z.infer<typeof datasetSchema>;

/** `datasets.orders.columns[2].type` from a zod path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/** Which filter kinds a column type takes. */
const FILTER_TYPES: Record<FilterDef['kind'], readonly ColumnType[]> = {
  range: ['integer', 'decimal', 'timestamp'],
  in: ['text'],
  eq: ['text', 'integer', 'decimal', 'timestamp', 'boolean'],
  prefix: ['text'],
};

/** Problems across fields of one dataset (references, kinds, tenancy), by field path. */
function crossChecks(name: string, d: DatasetInput, sources: Set<string>, problems: string[]): void {
  const at = (field: string) => `datasets.${name}.${field}`;
  const byName = new Map<string, z.infer<typeof columnSchema>>();
  d.columns.forEach((c, i) => {
    if (byName.has(c.name)) problems.push(`${at(`columns[${i}].name`)}: column ${c.name} declared twice`);
    byName.set(c.name, c);
    if (c.decimals !== undefined && c.type !== 'decimal')
      problems.push(`${at(`columns[${i}].decimals`)}: only for decimal columns`);
  });
  const sqlColumns = new Map<string, number>();
  d.columns.forEach((c, i) => {
    const sqlName = c.column ?? c.name;
    if (sqlColumns.has(sqlName))
      problems.push(
        `${at(`columns[${i}].column`)}: SQL column ${sqlName} is already columns[${sqlColumns.get(sqlName)}]`,
      );
    sqlColumns.set(sqlName, i);
  });
  if (!sources.has(d.source ?? DEFAULT_SOURCE))
    problems.push(
      `${at('source')}: unknown source ${d.source}; declared: ${[...sources].join(', ')} (add it under sources)`,
    );
  if (d.global && d.tenantColumn !== undefined)
    problems.push(`${at('tenantColumn')}: a global dataset has no tenant column (remove one of them)`);
  if (!d.global && d.tenantColumn === undefined)
    problems.push(
      `${at('tenantColumn')}: required (API keys read only their tenant's rows), unless the dataset is declared global: true (admin keys only)`,
    );
  const keySeen = new Set<string>();
  d.key.forEach((k, i) => {
    const col = byName.get(k);
    if (!col) problems.push(`${at(`key[${i}]`)}: not a declared column`);
    else if (col.nullable) problems.push(`${at(`key[${i}]`)}: a key column cannot be nullable`);
    else if (col.type === 'boolean') problems.push(`${at(`key[${i}]`)}: a key column cannot be boolean`);
    if (keySeen.has(k)) problems.push(`${at(`key[${i}]`)}: listed twice`);
    keySeen.add(k);
  });
  const filterNames = new Set<string>();
  d.filters.forEach((f, i) => {
    if (filterNames.has(f.name))
      problems.push(`${at(`filters[${i}].name`)}: filter ${f.name} declared twice`);
    filterNames.add(f.name);
    const col = byName.get(f.column ?? f.name);
    if (!col) {
      problems.push(`${at(`filters[${i}].column`)}: ${f.column ?? f.name} is not a declared column`);
      return;
    }
    if (!FILTER_TYPES[f.kind].includes(col.type))
      problems.push(
        `${at(`filters[${i}].kind`)}: a ${f.kind} filter takes ${FILTER_TYPES[f.kind].join(' or ')} columns, not ${col.type}`,
      );
    if (f.values && !(f.kind === 'in' || (f.kind === 'eq' && col.type === 'text')))
      problems.push(`${at(`filters[${i}].values`)}: only for in filters and eq filters on text`);
  });
  d.sorts.forEach((s, i) => {
    const col = byName.get(s);
    if (!col) problems.push(`${at(`sorts[${i}]`)}: not a declared column`);
    else if (col.nullable)
      problems.push(`${at(`sorts[${i}]`)}: a nullable column cannot be sorted on (keyset order)`);
  });
  if (d.defaultSort && !d.sorts.includes(d.defaultSort.column) && !d.key.includes(d.defaultSort.column))
    problems.push(`${at('defaultSort.column')}: must be one of sorts or key`);
}

function toDataset(name: string, d: DatasetInput): DatasetDef {
  const columns: ColumnDef[] = d.columns.map((c) => ({
    name: c.name,
    column: c.column ?? c.name,
    label: c.label ?? c.name,
    type: c.type,
    ...(c.decimals !== undefined ? { decimals: c.decimals } : {}),
    ...(c.width !== undefined ? { width: c.width } : {}),
    ...(c.nullable ? { nullable: true } : {}),
  }));
  const [schema, table] = d.table.split('.') as [string, string];
  return {
    name,
    title: d.title ?? name,
    source: d.source ?? DEFAULT_SOURCE,
    schema,
    table,
    tenantColumn: d.global ? null : d.tenantColumn!,
    key: d.key,
    trustKey: d.trustKey ?? false,
    columns,
    filters: d.filters.map((f) => {
      const col = columns.find((c) => c.name === (f.column ?? f.name))!;
      return {
        name: f.name,
        column: col.column,
        kind: f.kind,
        type: col.type,
        ...(f.values ? { values: f.values } : {}),
      };
    }),
    sorts: d.sorts,
    ...(d.defaultSort ? { defaultSort: d.defaultSort } : {}),
    ...(d.maxRows !== undefined ? { maxRows: d.maxRows } : {}),
  };
}

/** A parsed file (YAML or JSON text) as a Catalog; throws DatasetsFileError listing every problem. */
export function parseDatasets(text: string, file: string): Catalog {
  let raw: unknown;
  try {
    // JSON is YAML; one parser reads both.
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new DatasetsFileError(file, [`not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`]);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new DatasetsFileError(
      file,
      parsed.error.issues.map((i) => `${fieldPath(i.path) || '(file)'}: ${i.message}`),
    );
  }
  const problems: string[] = [];
  const sources: Record<string, SourceDef> = { [DEFAULT_SOURCE]: { name: DEFAULT_SOURCE } };
  for (const [name, s] of Object.entries(parsed.data.sources)) {
    if (name === DEFAULT_SOURCE) {
      problems.push(`sources.${name}: "default" is SOURCE_DATABASE_URL; give other sources other names`);
      continue;
    }
    sources[name] = { name, urlVariable: s.urlFrom };
  }
  const sourceNames = new Set(Object.keys(sources));
  for (const [name, d] of Object.entries(parsed.data.datasets)) crossChecks(name, d, sourceNames, problems);
  if (problems.length > 0) throw new DatasetsFileError(file, problems);
  const datasets = Object.fromEntries(
    Object.entries(parsed.data.datasets).map(([name, d]) => [name, toDataset(name, d)]),
  );
  return { sources, datasets, file };
}

/** Read and parse a datasets file (no database involved). */
export function readDatasetsFile(file: string): Catalog {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new DatasetsFileError(file, [
      `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    ]);
  }
  return parseDatasets(text, file);
}
