/**
 * Plans an export's parts one after another: part k+1 starts after part k's last row, so the
 * boundaries depend only on the data and the part size, never on timing or on how many readers take
 * them. Planning runs ahead of the readers, on the shared pool rather than on a reader's connection,
 * so it costs no time on the read path; a plan is one short index walk, so planning reaches the end
 * early and its sum is the export's row count (`total`), which then needs no count query of its own.
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

/** Runs queries of the source in one read-only transaction (src/db/sources.ts readOnly). */
export type SourceRead = <T>(fn: (tx: Sql) => Promise<T>) => Promise<T>;

/**
 * At most this many parts are planned beyond the ones taken: the plans of a 50-million-row export at
 * the default part size, a few hundred kilobytes.
 */
export const MAX_PLANNED_AHEAD = 1000;

/** The range of the part after `from.cursor`: at most `partRows` rows, or undefined when none remain. */
async function planPart(
  read: SourceRead,
  q: ExportQuery,
  from: PlanStart,
  partRows: number,
): Promise<PlannedPart | undefined> {
  const keyAt = q.keyAt(from.cursor);
  const part = (upper: Record<string, string> | undefined, rows: number) =>
    upper && rows > 0
      ? { index: from.index, lower: from.cursor, upper: cursorOf(upper), rowsBefore: from.rowsBefore, rows }
      : undefined;
  return read(async (sql) => {
    const [full] = await sql.unsafe<Record<string, string>[]>(keyAt, [partRows - 1]);
    if (full) return part(full, partRows);
    const [rest] = await sql.unsafe<{ n: string }[]>(q.countAfter(from.cursor));
    const rows = Number(rest?.n ?? 0);
    if (rows === 0) return undefined;
    const [last] = await sql.unsafe<Record<string, string>[]>(keyAt, [rows - 1]);
    return part(last, rows);
  });
}

interface Slot {
  plan: Promise<PlannedPart | undefined>;
  settle: (plan: PlannedPart | undefined | Error) => void;
  settled: boolean;
}

function slot(): Slot {
  let settle!: (plan: PlannedPart | undefined | Error) => void;
  const plan = new Promise<PlannedPart | undefined>((resolve, reject) => {
    settle = (p) => (p instanceof Error ? reject(p) : resolve(p));
  });
  // A failed plan is reported to whoever takes it; it must not also surface as unhandled.
  plan.catch(() => {});
  const s: Slot = {
    plan,
    settle: (p) => {
      s.settled = true;
      settle(p);
    },
    settled: false,
  };
  return s;
}

export class PartPlanner {
  /** Plans not both made and taken yet, by position: a plan taken and made is dropped. */
  readonly #slots = new Map<number, Slot>();
  /** Slots handed out by next(): the planner stays at most `maxAhead` beyond them. */
  #taken = 0;
  #wakeUp: (() => void) | undefined;
  /** How planning ended (no more parts, or a failed plan): every later slot settles the same way. */
  #ended: { outcome: undefined | Error } | undefined;
  #settleTotal!: (total: number | undefined | Error) => void;
  #closed = false;
  readonly #planning: Promise<void>;
  /**
   * Every row of the export (those before the start included) once the last part is planned, or
   * undefined as soon as planning has to wait at `maxAhead` (the caller counts instead). Rejects
   * when a plan fails.
   */
  readonly total = new Promise<number | undefined>((resolve, reject) => {
    this.#settleTotal = (t) => (t instanceof Error ? reject(t) : resolve(t));
  });

  constructor(
    private readonly read: SourceRead,
    private readonly query: ExportQuery,
    /** At most how many rows the part starting after `rowsBefore` rows may hold. */
    private readonly partRows: (rowsBefore: number) => number,
    start: PlanStart,
    private readonly maxAhead = MAX_PLANNED_AHEAD,
  ) {
    this.total.catch(() => {});
    this.#planning = this.#planAll(start);
  }

  #slot(i: number): Slot {
    let s = this.#slots.get(i);
    if (!s) {
      s = slot();
      if (this.#ended) s.settle(this.#ended.outcome);
      this.#slots.set(i, s);
    }
    return s;
  }

  /** Settles slot `i`; it is dropped once taken too. */
  #settle(i: number, outcome: PlannedPart | undefined | Error): void {
    this.#slot(i).settle(outcome);
    if (i < this.#taken) this.#slots.delete(i);
  }

  /** Plans every part in order into its slot, staying at most `maxAhead` parts beyond the readers. */
  async #planAll(start: PlanStart): Promise<void> {
    let from = start;
    for (let i = 0; ; i++) {
      while (i - this.#taken >= this.maxAhead && !this.#closed) {
        this.#settleTotal(undefined);
        await new Promise<void>((resolve) => (this.#wakeUp = resolve));
      }
      let outcome: PlannedPart | undefined | Error;
      try {
        outcome = this.#closed
          ? new Error('the export stopped planning')
          : await planPart(this.read, this.query, from, this.partRows(from.rowsBefore));
      } catch (err) {
        outcome = err instanceof Error ? err : new Error(String(err));
      }
      if (!outcome || outcome instanceof Error) {
        this.#ended = { outcome };
        for (const j of [...this.#slots.keys()]) if (j >= i) this.#settle(j, outcome);
        this.#settleTotal(outcome ?? from.rowsBefore);
        return;
      }
      this.#settle(i, outcome);
      from = {
        index: outcome.index + 1,
        cursor: outcome.upper,
        rowsBefore: outcome.rowsBefore + outcome.rows,
      };
    }
  }

  /**
   * Stops planning (once the readers are done, however they ended): no query of the source is
   * left running or started after it resolves. Parts not planned yet are refused.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeUp?.();
    await this.#planning;
  }

  /** The next part in order, or undefined once every row is planned. Callers may overlap calls. */
  next(): Promise<PlannedPart | undefined> {
    const i = this.#taken++;
    const { plan, settled } = this.#slot(i);
    if (settled) this.#slots.delete(i);
    this.#wakeUp?.();
    this.#wakeUp = undefined;
    return plan;
  }
}
