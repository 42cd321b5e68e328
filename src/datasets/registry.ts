/**
 * The exportable datasets. Each is one declarative entry: its table, the column that scopes it to a
 * tenant, the key it is read in order of, its columns (labels, types, formatting), and the filters and
 * sorts a request may use. Adding a dataset touches this file only.
 */
export type ColumnType = 'text' | 'integer' | 'decimal' | 'timestamp';

export interface ColumnDef {
  /** Name in the API and in CSV/NDJSON headers. */
  name: string;
  /** SQL column. */
  column: string;
  /** Header in XLSX and PDF. */
  label: string;
  type: ColumnType;
  /** Decimal places shown in XLSX and PDF (decimal columns). */
  decimals?: number;
  /** Relative width in PDF and XLSX layouts (default 1). */
  width?: number;
  /** May be null (only non-null columns can be sorted on). */
  nullable?: boolean;
}

/** `range`: `{from?, to?}` on a number or timestamp column; `in`: a list of values of a text column. */
export interface FilterDef {
  name: string;
  column: string;
  kind: 'range' | 'in';
  type: ColumnType;
  /** For `in` filters: the values that exist, if the set is closed. */
  values?: readonly string[];
}

export interface DatasetDef {
  name: string;
  /** Default PDF title. */
  title: string;
  table: string;
  tenantColumn: string;
  /** A unique, ascending integer key: rows are read in keyset ranges of it (it breaks sort ties). */
  keyColumn: string;
  columns: ColumnDef[];
  filters: FilterDef[];
  /** Column names a request may sort by; the key column is always allowed. */
  sorts: string[];
}

const orders: DatasetDef = {
  name: 'orders',
  title: 'Orders',
  table: 'orders',
  tenantColumn: 'tenant_id',
  keyColumn: 'id',
  columns: [
    { name: 'id', column: 'id', label: 'Order ID', type: 'integer', width: 0.8 },
    { name: 'customer', column: 'customer', label: 'Customer', type: 'text', width: 1.6 },
    { name: 'email', column: 'email', label: 'E-mail', type: 'text', width: 2 },
    { name: 'country', column: 'country', label: 'Country', type: 'text', width: 0.6 },
    { name: 'status', column: 'status', label: 'Status', type: 'text', width: 0.8 },
    { name: 'currency', column: 'currency', label: 'Currency', type: 'text', width: 0.6 },
    { name: 'amount', column: 'amount', label: 'Amount', type: 'decimal', decimals: 2, width: 0.8 },
    { name: 'item_count', column: 'item_count', label: 'Items', type: 'integer', width: 0.5 },
    { name: 'created_at', column: 'created_at', label: 'Created at', type: 'timestamp', width: 1.5 },
  ],
  filters: [
    { name: 'created_at', column: 'created_at', kind: 'range', type: 'timestamp' },
    { name: 'amount', column: 'amount', kind: 'range', type: 'decimal' },
    {
      name: 'status',
      column: 'status',
      kind: 'in',
      type: 'text',
      values: ['pending', 'paid', 'shipped', 'delivered', 'refunded'],
    },
    { name: 'country', column: 'country', kind: 'in', type: 'text' },
  ],
  sorts: ['id', 'created_at', 'amount', 'customer', 'country', 'status'],
};

const customers: DatasetDef = {
  name: 'customers',
  title: 'Customers',
  table: 'customers',
  tenantColumn: 'tenant_id',
  keyColumn: 'id',
  columns: [
    { name: 'id', column: 'id', label: 'Customer ID', type: 'integer', width: 0.8 },
    { name: 'name', column: 'name', label: 'Name', type: 'text', width: 1.6 },
    { name: 'email', column: 'email', label: 'E-mail', type: 'text', width: 2 },
    { name: 'country', column: 'country', label: 'Country', type: 'text', width: 0.6 },
    { name: 'signed_up_at', column: 'signed_up_at', label: 'Signed up', type: 'timestamp', width: 1.5 },
    {
      name: 'lifetime_value',
      column: 'lifetime_value',
      label: 'Lifetime value',
      type: 'decimal',
      decimals: 2,
      width: 1,
    },
    { name: 'note', column: 'note', label: 'Note', type: 'text', width: 1.5, nullable: true },
  ],
  filters: [
    { name: 'signed_up_at', column: 'signed_up_at', kind: 'range', type: 'timestamp' },
    { name: 'lifetime_value', column: 'lifetime_value', kind: 'range', type: 'decimal' },
    { name: 'country', column: 'country', kind: 'in', type: 'text' },
  ],
  sorts: ['id', 'name', 'signed_up_at', 'lifetime_value'],
};

export const DATASETS: Record<string, DatasetDef> = { orders, customers };

export function getDataset(name: string): DatasetDef | undefined {
  return Object.hasOwn(DATASETS, name) ? DATASETS[name] : undefined;
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
