/** The estimate's arithmetic: observed bytes per row and rows per second win over the first guess. */
import { describe, expect, it } from 'vitest';
import { estimateExport, guessBytesPerRow, TYPICAL_ROWS_PER_SEC } from '../../src/datasets/estimate.js';
import { datasets } from '../../src/datasets/registry.js';

const cols = datasets().orders!.columns;
const none = { jobs: 0, rows: 0, bytes: 0, seconds: 0 };

describe('estimateExport', () => {
  it('uses what recent exports of the dataset and format wrote, and how fast', () => {
    const e = estimateExport({
      format: 'csv',
      cols,
      rows: { value: 5000, method: 'exact' },
      history: { jobs: 3, rows: 30_000, bytes: 3_000_000, seconds: 2 },
    });
    expect(e).toEqual({
      rows: { value: 5000, method: 'exact' },
      bytes: { value: 500_000, method: 'observed' },
      seconds: { value: 0.3, method: 'observed' },
    });
  });

  it('guesses from the column types and a typical rate before any export was seen', () => {
    const e = estimateExport({
      format: 'pdf',
      cols,
      rows: { value: 20_000, method: 'planner' },
      history: none,
    });
    expect(e.bytes).toEqual({ value: 20_000 * guessBytesPerRow('pdf', cols), method: 'guess' });
    expect(e.seconds).toEqual({ value: 20_000 / TYPICAL_ROWS_PER_SEC.pdf, method: 'guess' });
    expect(e.rows.method).toBe('planner');
  });

  it('guesses NDJSON larger than CSV, and XLSX smaller', () => {
    const csv = guessBytesPerRow('csv', cols);
    expect(guessBytesPerRow('ndjson', cols)).toBeGreaterThan(csv);
    expect(guessBytesPerRow('xlsx', cols)).toBeLessThan(csv);
  });
});
