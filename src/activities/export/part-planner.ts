/**
 * Plans an export's parts one after another: part k+1 starts after part k's last row, so the
 * boundaries depend only on the data and the part size, never on timing or on how many readers take
 * them. The next part is planned while the current one is read (one plan ahead), on the shared pool
 * rather than on a reader's connection, so planning costs no time on the read path.
 */
import { cursorOf, type ExportQuery } from '../../datasets/query.js';
import type { Sql } from '../../db/client.js';

export interface PlannedPart {
  index: number;
  /** Rows after `lower` up to and including `upper`, in the export's order. */
  lower: string | null;
  upper: string;
  rowsBefore: number;
  rows: number;
}

export interface PlanStart {
  index: number;
  cursor: string | null;
  rowsBefore: number;
}

/** The range of the part after `cursor`: at most `partRows` rows, or undefined when none remain. */
/** Runs queries of the source in one read-only transaction (src/db/sources.ts readOnly). */
export type SourceRead = <T>(fn: (tx: Sql) => Promise<T>) => Promise<T>;

async function planPart(
  read: SourceRead,
  q: ExportQuery,
  from: PlanStart,
  partRows: number,
): Promise<PlannedPart | undefined> {
  const base = `select ${q.keySelect} from ${q.from} where ${q.where}${q.after(from.cursor)} order by ${q.orderBy}`;
  const part = (upper: Record<string, string> | undefined, rows: number) =>
    upper && rows > 0
      ? { index: from.index, lower: from.cursor, upper: cursorOf(upper), rowsBefore: from.rowsBefore, rows }
      : undefined;
  return read(async (sql) => {
    const [full] = await sql.unsafe<Record<string, string>[]>(`${base} offset $1 limit 1`, [partRows - 1]);
    if (full) return part(full, partRows);
    const [rest] = await sql.unsafe<{ n: number }[]>(
      `select count(*)::int as n from ${q.from} where ${q.where}${q.after(from.cursor)}`,
    );
    const rows = rest?.n ?? 0;
    if (rows === 0) return undefined;
    const [last] = await sql.unsafe<Record<string, string>[]>(`${base} offset $1 limit 1`, [rows - 1]);
    return part(last, rows);
  });
}

export class PartPlanner {
  #ahead: Promise<PlannedPart | undefined>;

  constructor(
    private readonly read: SourceRead,
    private readonly query: ExportQuery,
    /** At most how many rows the part starting after `rowsBefore` rows may hold. */
    private readonly partRows: (rowsBefore: number) => number,
    start: PlanStart,
  ) {
    this.#ahead = this.#plan(start);
  }

  #plan(from: PlanStart): Promise<PlannedPart | undefined> {
    const planned = planPart(this.read, this.query, from, this.partRows(from.rowsBefore));
    // A failed plan is reported to whoever takes it next; it must not also surface as unhandled.
    planned.catch(() => {});
    return planned;
  }

  /** The next part in order, or undefined once every row is planned. Callers may overlap calls. */
  next(): Promise<PlannedPart | undefined> {
    const current = this.#ahead;
    this.#ahead = current.then((p) =>
      p ? this.#plan({ index: p.index + 1, cursor: p.upper, rowsBefore: p.rowsBefore + p.rows }) : undefined,
    );
    this.#ahead.catch(() => {});
    return current;
  }
}
