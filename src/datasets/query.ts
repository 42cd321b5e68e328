/**
 * SQL for an export request, built from the dataset registry: the tenant and filter condition, the
 * keyset order (sort column, then the key as tie-breaker) and the cursor condition. Values are typed
 * literals rather than bind parameters because COPY takes none; every value was validated first
 * (checkExportRequest) and is quoted here.
 */
import { keyLiteral, quoteIdent, quoteLiteral } from '../db/sql-text.js';
import { parseTimestamp, textProblem } from '../shared/input.js';
import type { ExportRequest, RangeFilter } from '../shared/jobs.js';
import { DECIMAL_PATTERN, INTEGER_PATTERN, TIMESTAMP_PATTERN } from '../shared/patterns.js';
import { getColumn, type ColumnDef, type ColumnType, type DatasetDef, type FilterDef } from './registry.js';

const SQL_TYPE: Record<ColumnType, string> = {
  text: 'text',
  integer: 'bigint',
  decimal: 'numeric',
  timestamp: 'timestamptz',
  boolean: 'boolean',
};

export function typedLiteral(type: ColumnType, value: string | number | boolean): string {
  if (type === 'integer') return keyLiteral(String(value));
  if (type === 'boolean') return value === true || value === 'true' ? 'true' : 'false';
  return `${quoteLiteral(String(value))}::${SQL_TYPE[type]}`;
}

/** One problem with a request, by path in the request body. */
export interface RequestIssue {
  path: (string | number)[];
  message: string;
}

/** Longest value of an `in` filter. */
const MAX_IN_VALUE_CHARS = 200;

/** Range bounds beyond this magnitude are refused (15 digits before the point). */
export const RANGE_BOUND_LIMIT = 1e15;

/** Whether `v` is a bound a range filter on a column of `type` takes (see exportRequestSchema). */
export function isRangeBound(type: ColumnType, v: unknown): boolean {
  // A timestamp must also be a real date PostgreSQL reads (parseTimestamp): it goes into the query as text.
  if (type === 'timestamp') return typeof v === 'string' && TIMESTAMP_PATTERN.test(v) && parseTimestamp(v).ok;
  if (type === 'text') return typeof v === 'string';
  if (typeof v === 'number') {
    return (
      Number.isFinite(v) && Math.abs(v) < RANGE_BOUND_LIMIT && (type !== 'integer' || Number.isInteger(v))
    );
  }
  return typeof v === 'string' && (type === 'integer' ? INTEGER_PATTERN : DECIMAL_PATTERN).test(v);
}

/** Why `value` is not what an `eq` or `prefix` filter `def` takes, or undefined. */
function valueProblem(def: FilterDef, value: unknown): string | undefined {
  if (def.type === 'boolean') return typeof value === 'boolean' ? undefined : 'must be true or false';
  if (def.type === 'text') {
    if (typeof value !== 'string') return 'must be a string';
    if (def.kind === 'prefix' && value.length === 0) return 'must not be empty';
    return (
      textProblem(value) ??
      (value.length > MAX_IN_VALUE_CHARS ? `must be at most ${MAX_IN_VALUE_CHARS} characters` : undefined) ??
      (def.values && !def.values.includes(value)
        ? `unknown value; allowed: ${def.values.join(', ')}`
        : undefined)
    );
  }
  if (!isRangeBound(def.type, value))
    return `must be a ${def.type === 'timestamp' ? 'ISO 8601 date or time' : def.type === 'integer' ? 'integer' : 'number'}`;
  return undefined;
}

/** Everything wrong with an export request's columns, filters and sort for its dataset. */
export function checkExportRequest(ds: DatasetDef, req: Omit<ExportRequest, 'format'>): RequestIssue[] {
  const issues: RequestIssue[] = [];
  const columnNames = ds.columns.map((c) => c.name);
  const seen = new Set<string>();
  req.columns?.forEach((name, i) => {
    if (!columnNames.includes(name))
      issues.push({ path: ['columns', i], message: `unknown column; allowed: ${columnNames.join(', ')}` });
    else if (seen.has(name)) issues.push({ path: ['columns', i], message: 'column listed twice' });
    seen.add(name);
  });
  const filterNames = ds.filters.map((f) => f.name);
  for (const [name, value] of Object.entries(req.filters ?? {})) {
    const def = ds.filters.find((f) => f.name === name);
    const path = ['filters', name];
    if (!def) {
      issues.push({ path, message: `unknown filter; allowed: ${filterNames.join(', ')}` });
      continue;
    }
    if (def.kind === 'in') {
      if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string')) {
        issues.push({ path, message: 'must be a non-empty list of strings' });
      } else if (value.length > 100) {
        issues.push({ path, message: 'at most 100 values' });
      } else {
        value.forEach((v: string, i) => {
          const bad =
            textProblem(v) ??
            (v.length > MAX_IN_VALUE_CHARS
              ? `must be at most ${MAX_IN_VALUE_CHARS} characters`
              : undefined) ??
            (def.values && !def.values.includes(v)
              ? `unknown value; allowed: ${def.values.join(', ')}`
              : undefined);
          if (bad) issues.push({ path: [...path, i], message: bad });
        });
      }
      continue;
    }
    if (def.kind === 'eq' || def.kind === 'prefix') {
      const bad = valueProblem(def, value);
      if (bad) issues.push({ path, message: bad });
      continue;
    }
    const shape = def.type === 'timestamp' ? 'ISO 8601 date or time' : 'number';
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      issues.push({ path, message: `must be an object {from?, to?} of ${shape}s` });
      continue;
    }
    const extra = Object.keys(value).filter((k) => k !== 'from' && k !== 'to');
    if (extra.length > 0) {
      issues.push({ path, message: `unknown field(s) ${extra.join(', ')}; allowed: from, to` });
      continue;
    }
    const range: RangeFilter = value;
    if (range.from === undefined && range.to === undefined) {
      issues.push({ path, message: 'empty range: give from, to or both' });
      continue;
    }
    // A range whose `from` is not before `to` is valid and matches no rows.
    for (const end of ['from', 'to'] as const) {
      if (range[end] !== undefined && !isRangeBound(def.type, range[end]))
        issues.push({ path: [...path, end], message: `must be a ${shape}` });
    }
  }
  if (req.sort) {
    const allowed = sortableColumns(ds);
    if (!allowed.includes(req.sort.column))
      issues.push({
        path: ['sort', 'column'],
        message: `cannot sort by this; allowed: ${allowed.join(', ')}`,
      });
  }
  return issues;
}

/** The table's alias in keyAt's query. */
const KEY_ALIAS = 'keyed';

/** The SQL pieces of one export: which rows, in which order, and where a cursor continues. */
export class ExportQuery {
  private readonly keys: { expr: string; type: ColumnType }[];
  readonly desc: boolean;

  constructor(
    readonly ds: DatasetDef,
    readonly tenantId: string,
    readonly request: Pick<ExportRequest, 'filters' | 'sort'>,
  ) {
    const keyCols = ds.key.map((name) => {
      const col = getColumn(ds, name);
      if (!col) throw new Error(`key column ${name} is not a column of ${ds.name}`);
      return { expr: quoteIdent(col.column), type: col.type };
    });
    const sort = request.sort ?? ds.defaultSort;
    const sortCol = sort ? getColumn(ds, sort.column) : undefined;
    this.keys =
      sortCol && sortCol.name !== ds.key[0]
        ? [{ expr: quoteIdent(sortCol.column), type: sortCol.type }, ...keyCols]
        : keyCols;
    this.desc = sort?.direction === 'desc';
  }

  /** The schema-qualified table or view. */
  get from(): string {
    return `${quoteIdent(this.ds.schema)}.${quoteIdent(this.ds.table)}`;
  }

  /** Tenant (unless the dataset is global) and filters (no cursor). */
  get where(): string {
    const parts =
      this.ds.tenantColumn === null
        ? ['true']
        : [`${quoteIdent(this.ds.tenantColumn)} = ${quoteLiteral(this.tenantId)}`];
    for (const [name, value] of Object.entries(this.request.filters ?? {})) {
      const def = this.ds.filters.find((f) => f.name === name);
      if (!def) throw new Error(`unknown filter ${name}`);
      const col = quoteIdent(def.column);
      if (def.kind === 'eq') {
        parts.push(`${col} = ${typedLiteral(def.type, value as string | number)}`);
      } else if (def.kind === 'prefix') {
        parts.push(`starts_with(${col}, ${quoteLiteral(value as string)})`);
      } else if (Array.isArray(value)) {
        parts.push(`${col} in (${value.map((v) => typedLiteral(def.type, v)).join(', ')})`);
      } else {
        const range = value as RangeFilter;
        if (range.from !== undefined) parts.push(`${col} >= ${typedLiteral(def.type, range.from)}`);
        if (range.to !== undefined) parts.push(`${col} < ${typedLiteral(def.type, range.to)}`);
      }
    }
    return parts.join(' and ');
  }

  get orderBy(): string {
    return this.orderOn('');
  }

  /** The order by the key's columns, each prefixed by `qualifier` (a table alias and a dot, or ''). */
  private orderOn(qualifier: string): string {
    return this.keys.map((k) => `${qualifier}${k.expr}${this.desc ? ' desc' : ''}`).join(', ');
  }

  /**
   * The sort key, as text in k0, k1..., of the row `$1` rows past `cursor` in the export's order. The
   * key is cast after the offset, not for every row skipped (which doubled a plan's cost); the order
   * names the table's columns through an alias, so no output name (k0...) can stand in for one.
   */
  keyAt(cursor: string | null): string {
    const keys = this.keys.map((k, i) => `${k.expr} as k${i}`).join(', ');
    const order = this.orderOn(`${KEY_ALIAS}.`);
    const text = this.keys.map((_, i) => `k${i}::text as k${i}`).join(', ');
    return (
      `select ${text} from (select ${keys} from ${this.from} as ${KEY_ALIAS} where ${this.where}` +
      `${this.after(cursor)} order by ${order} offset $1 limit 1) as at_offset`
    );
  }

  /** The rows strictly after `cursor` (all of them for null), counted. */
  countAfter(cursor: string | null): string {
    return `select count(*)::bigint as n from ${this.from} where ${this.where}${this.after(cursor)}`;
  }

  /** Rows strictly after `cursor` in the export's order, as ` and (...)`, or '' for the start. */
  after(cursor: string | null): string {
    if (cursor === null) return '';
    const values = JSON.parse(cursor) as string[];
    if (!Array.isArray(values) || values.length !== this.keys.length) throw new Error(`bad cursor ${cursor}`);
    const lhs = this.keys.map((k) => k.expr).join(', ');
    const rhs = this.keys.map((k, i) => typedLiteral(k.type, values[i]!)).join(', ');
    return ` and (${lhs}) ${this.desc ? '<' : '>'} (${rhs})`;
  }

  /** `select <select> from ... where ... and after(lower) and not after(upper) order by ...`. */
  range(select: string, lower: string | null, upper: string): string {
    return (
      `select ${select} from ${this.from} where ${this.where}${this.after(lower)}` +
      ` and not (true${this.after(upper)}) order by ${this.orderBy}`
    );
  }

  count(): string {
    return this.countAfter(null);
  }
}

/** A cursor from the k0, k1... text columns of a row. */
export function cursorOf(row: Record<string, string>): string {
  const values: string[] = [];
  for (let i = 0; `k${i}` in row; i++) values.push(row[`k${i}`]!);
  return JSON.stringify(values);
}

export type { ColumnDef };

/** The columns an export of `ds` may be sorted by: the key's, then the dataset's sorts. */
export function sortableColumns(ds: DatasetDef): string[] {
  return [...new Set([...ds.key, ...ds.sorts])].filter((name) => getColumn(ds, name) !== undefined);
}
