/**
 * The exportable datasets. Each is one declarative entry: its table, the column that scopes it to a
 * tenant, the key it is read in order of, and its columns. Adding a dataset touches this file only.
 */
export type ColumnType = 'text' | 'integer' | 'decimal' | 'timestamp';

export interface ColumnDef {
  /** Name in the API and in file headers. */
  name: string;
  /** SQL column. */
  column: string;
  label: string;
  type: ColumnType;
}

export interface DatasetDef {
  name: string;
  table: string;
  tenantColumn: string;
  /** A unique, ascending integer key: rows are read in this order, in keyset ranges. */
  keyColumn: string;
  columns: ColumnDef[];
}

const orders: DatasetDef = {
  name: 'orders',
  table: 'orders',
  tenantColumn: 'tenant_id',
  keyColumn: 'id',
  columns: [
    { name: 'id', column: 'id', label: 'Order ID', type: 'integer' },
    { name: 'customer', column: 'customer', label: 'Customer', type: 'text' },
    { name: 'email', column: 'email', label: 'E-mail', type: 'text' },
    { name: 'country', column: 'country', label: 'Country', type: 'text' },
    { name: 'status', column: 'status', label: 'Status', type: 'text' },
    { name: 'currency', column: 'currency', label: 'Currency', type: 'text' },
    { name: 'amount', column: 'amount', label: 'Amount', type: 'decimal' },
    { name: 'item_count', column: 'item_count', label: 'Items', type: 'integer' },
    { name: 'created_at', column: 'created_at', label: 'Created at', type: 'timestamp' },
  ],
};

export const DATASETS: Record<string, DatasetDef> = { orders };

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
