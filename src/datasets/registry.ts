/**
 * The exportable datasets of this process: what the datasets file (DATASETS_FILE, see ./file.ts)
 * declares, once validated. The API and the workers load the file at start-up (./load.ts) and make it
 * the active catalog here; a process that never does (unit tests, tools) gets the shipped demo file,
 * examples/datasets.yaml, parsed and validated the same way (without the check against a database).
 */
import { demoDatasetsFile, readDatasetsFile } from './file.js';

export type ColumnType = 'text' | 'integer' | 'decimal' | 'timestamp' | 'boolean';

export interface ColumnDef {
  /** Name in the API and in CSV/NDJSON headers. */
  name: string;
  /** SQL column (an identifier of the file, quoted wherever it is used). */
  column: string;
  /** Header in XLSX and PDF. */
  label: string;
  type: ColumnType;
  /** Decimal places shown in XLSX and PDF (decimal columns). */
  decimals?: number;
  /** Relative width in PDF and XLSX layouts (default 1). */
  width?: number;
  /** May be null (only non-null columns can be sorted on or be part of the key). */
  nullable?: boolean;
}

/**
 * `range`: `{from?, to?}` on a number or timestamp column; `in`: a list of values of a text column;
 * `eq`: one value of the column's type; `prefix`: text that a text column starts with.
 */
export type FilterKind = 'range' | 'in' | 'eq' | 'prefix';

export interface FilterDef {
  name: string;
  /** SQL column. */
  column: string;
  kind: FilterKind;
  type: ColumnType;
  /** For `in` and text `eq` filters: the values that exist, if the set is closed. */
  values?: readonly string[];
}

/** A named database that datasets read from; `default` is SOURCE_DATABASE_URL (or the state database). */
export interface SourceDef {
  name: string;
  /** The environment variable that holds the URL; undefined for `default`. */
  urlVariable?: string;
}

export interface DatasetDef {
  name: string;
  /** Default PDF title. */
  title: string;
  /** Name of the source it is read from. */
  source: string;
  /** Schema and name of the table or view. */
  schema: string;
  table: string;
  /**
   * The column API keys are scoped by (an API key reads only rows whose value is its tenant); null for a
   * dataset declared global, which only admin keys may export.
   */
  tenantColumn: string | null;
  /**
   * The key: columns (API names of `columns`) that together are unique and not null, so that (sort
   * column, key) is a total order rows are read in keyset ranges of.
   */
  key: string[];
  /** For a view: the key is taken as unique without an index proving it (the file said so). */
  trustKey: boolean;
  columns: ColumnDef[];
  filters: FilterDef[];
  /** Column names a request may sort by; the key columns are always allowed. */
  sorts: string[];
  /** The order of a request that names none (default: by key, ascending). */
  defaultSort?: { column: string; direction: 'asc' | 'desc' };
  /** Most rows one export of it may hold (beside EXPORT_MAX_ROWS); undefined: no own cap. */
  maxRows?: number;
}

export interface Catalog {
  sources: Record<string, SourceDef>;
  datasets: Record<string, DatasetDef>;
  /** Where it was read from. */
  file: string;
}

let active: Catalog | undefined;

/** Make `catalog` the datasets of this process (after ./load.ts has checked it against its sources). */
export function useCatalog(catalog: Catalog): void {
  active = catalog;
}

/** The active catalog: the one `useCatalog` set, else the shipped demo file. */
export function activeCatalog(): Catalog {
  active ??= readDatasetsFile(demoDatasetsFile());
  return active;
}

/** Every dataset, by name. */
export function datasets(): Record<string, DatasetDef> {
  return activeCatalog().datasets;
}

export function getDataset(name: string): DatasetDef | undefined {
  const all = datasets();
  return Object.hasOwn(all, name) ? all[name] : undefined;
}

/** The columns an export writes, in order: the requested ones, or all of them. */
export function selectColumns(dataset: DatasetDef, names?: string[]): ColumnDef[] {
  if (!names || names.length === 0) return dataset.columns;
  return names.map((n) => {
    const col = dataset.columns.find((c) => c.name === n);
    if (!col) throw new Error(`unknown column ${n} in dataset ${dataset.name}`);
    return col;
  });
}

export function getColumn(dataset: DatasetDef, name: string): ColumnDef | undefined {
  return dataset.columns.find((c) => c.name === name);
}
