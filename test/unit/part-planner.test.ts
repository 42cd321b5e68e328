/**
 * PartPlanner against a fake source of keys 1..N: parts cover every row once, in order; the planned
 * total is the count; planning waits at its limit, stops when closed, and a failed plan reaches
 * whoever takes it and every part after it.
 */
import { describe, expect, it } from 'vitest';
import { PartPlanner, type PlannedPart, type SourceRead } from '../../src/activities/export/part-planner.js';
import type { ExportQuery } from '../../src/datasets/query.js';
import type { Sql } from '../../src/db/client.js';

/** A query whose SQL is a JSON note of what is asked, answered by `source`. */
const query = {
  keyAt: (cursor: string | null) => JSON.stringify({ op: 'keyAt', cursor }),
  countAfter: (cursor: string | null) => JSON.stringify({ op: 'count', cursor }),
} as unknown as ExportQuery;

/** Keys 1..rows; `failAt` makes the read after that key fail; `reads` counts the transactions. */
function source(rows: number, failAt?: number) {
  const stats = { reads: 0 };
  const after = (cursor: string | null) =>
    cursor === null ? 0 : Number((JSON.parse(cursor) as string[])[0]);
  const tx = {
    unsafe: async (text: string, params?: number[]) => {
      // An answer a moment later, as a server's: planning and taking interleave.
      await Promise.resolve();
      const { op, cursor } = JSON.parse(text) as { op: string; cursor: string | null };
      const from = after(cursor);
      if (failAt !== undefined && from >= failAt) throw new Error('source down');
      if (op === 'count') return [{ n: String(Math.max(0, rows - from)) }];
      const key = from + 1 + params![0]!;
      return key <= rows ? [{ k0: String(key) }] : [];
    },
  } as unknown as Sql;
  const read: SourceRead = async (fn) => {
    stats.reads++;
    return fn(tx);
  };
  return { read, stats };
}

async function takeAll(planner: PartPlanner): Promise<PlannedPart[]> {
  const parts: PlannedPart[] = [];
  for (let p = await planner.next(); p; p = await planner.next()) parts.push(p);
  return parts;
}

describe('PartPlanner', () => {
  it('plans every row once, in order, and its total is the count', async () => {
    const { read } = source(1003);
    const planner = new PartPlanner(read, query, () => 100, { index: 0, cursor: null, rowsBefore: 0 });
    const parts = await takeAll(planner);
    expect(parts.map((p) => p.rows)).toEqual([...Array<number>(10).fill(100), 3]);
    expect(parts.map((p) => p.index)).toEqual([...Array(11).keys()]);
    expect(parts.at(-1)!.upper).toBe('["1003"]');
    parts.forEach((p, i) => i > 0 && expect(p.lower).toBe(parts[i - 1]!.upper));
    expect(await planner.total).toBe(1003);
    expect(await planner.next()).toBeUndefined();
    await planner.close();
  });

  it('resumes after a cursor, counting the rows before it into the total', async () => {
    const { read } = source(250);
    const start = { index: 3, cursor: '["150"]', rowsBefore: 150 };
    const planner = new PartPlanner(read, query, () => 50, start);
    const parts = await takeAll(planner);
    expect(parts.map((p) => [p.index, p.rowsBefore, p.rows])).toEqual([
      [3, 150, 50],
      [4, 200, 50],
    ]);
    expect(await planner.total).toBe(250);
  });

  it('waits at its limit (the total is then left to a count) and goes on as parts are taken', async () => {
    const { read, stats } = source(1000);
    const planner = new PartPlanner(read, query, () => 100, { index: 0, cursor: null, rowsBefore: 0 }, 3);
    expect(await planner.total).toBeUndefined();
    expect(stats.reads).toBe(3);
    const parts = await takeAll(planner);
    expect(parts).toHaveLength(10);
    expect(parts.reduce((n, p) => n + p.rows, 0)).toBe(1000);
  });

  it('hands a failed plan to whoever takes it and to every part after it', async () => {
    const { read } = source(1000, 300);
    const planner = new PartPlanner(read, query, () => 100, { index: 0, cursor: null, rowsBefore: 0 });
    for (let i = 0; i < 3; i++) expect((await planner.next())?.index).toBe(i);
    await expect(planner.next()).rejects.toThrow('source down');
    await expect(planner.next()).rejects.toThrow('source down');
    await expect(planner.total).rejects.toThrow('source down');
  });

  it('reads nothing more once closed', async () => {
    const { read, stats } = source(1_000_000);
    const planner = new PartPlanner(read, query, () => 100, { index: 0, cursor: null, rowsBefore: 0 }, 5);
    await planner.next();
    // The first part and five ahead: planning waits there.
    while (stats.reads < 6) await new Promise((r) => setTimeout(r, 1));
    await planner.close();
    const reads = stats.reads;
    // Parts planned before the close are still handed out; the first one not planned is refused.
    for (let i = 1; i < 6; i++) expect((await planner.next())?.index).toBe(i);
    await expect(planner.next()).rejects.toThrow('stopped planning');
    await new Promise((r) => setTimeout(r, 20));
    expect(stats.reads).toBe(reads);
  });
});
