/**
 * An export's estimate from its facts (src/db/export-estimates.ts): rows as counted or planned; bytes
 * from the bytes per row recent exports of the same dataset and format wrote, else a first guess from
 * the columns' types; seconds from those exports' rows per second, else a typical rate of the format.
 */
import type { ExportHistory } from '../db/export-estimates.js';
import type { ExportEstimate, ExportFormat } from '../shared/jobs.js';
import type { ColumnDef, ColumnType } from './registry.js';

/** Requests matching at most this many rows are counted exactly. */
export const EXACT_COUNT_CAP = 100_000;

/** Typical bytes of one value as COPY writes it as text. */
const VALUE_BYTES: Record<ColumnType, number> = {
  integer: 6,
  decimal: 7,
  timestamp: 29,
  text: 16,
  boolean: 1,
};

/** Rows per second of each format on a small machine (BENCHMARKS.md, export engine), for a first guess. */
export const TYPICAL_ROWS_PER_SEC: Record<ExportFormat, number> = {
  csv: 250_000,
  ndjson: 200_000,
  xlsx: 60_000,
  pdf: 10_000,
  parquet: 150_000,
};

/** A first guess of the bytes per row of `format` with these columns, before any export was seen. */
export function guessBytesPerRow(format: ExportFormat, cols: ColumnDef[]): number {
  const csv = cols.reduce((n, c) => n + VALUE_BYTES[c.type] + 1, 0);
  switch (format) {
    case 'csv':
      return csv;
    case 'ndjson':
      // `"name":` per value, quotes around text and timestamps, braces; booleans are spelt out.
      return (
        csv +
        2 +
        cols.reduce(
          (n, c) =>
            n +
            c.name.length +
            3 +
            (c.type === 'text' || c.type === 'timestamp' ? 2 : c.type === 'boolean' ? 4 : 0),
          0,
        )
      );
    case 'xlsx':
      // Compressed sheet XML came to about two thirds of the CSV (export-baselines).
      return Math.ceil(csv * 0.65);
    case 'parquet':
      // Binary values (8 bytes a number, 16 a decimal), gzip-compressed column by column: a guess.
      return Math.ceil(csv * 0.5);
    case 'pdf':
      // About 9 bytes per cell, compressed pages (export-baselines: 92 bytes per row of 10 columns).
      return 9 * cols.length + 2;
  }
}

export function estimateExport(input: {
  format: ExportFormat;
  cols: ColumnDef[];
  rows: { value: number; method: 'exact' | 'planner' };
  history: ExportHistory;
}): ExportEstimate {
  const { history, rows } = input;
  const observed = history.jobs > 0 && history.rows > 0;
  const bytesPerRow = observed ? history.bytes / history.rows : guessBytesPerRow(input.format, input.cols);
  const rate =
    observed && history.seconds > 0 ? history.rows / history.seconds : TYPICAL_ROWS_PER_SEC[input.format];
  return {
    rows,
    bytes: { value: Math.round(bytesPerRow * rows.value), method: observed ? 'observed' : 'guess' },
    seconds: {
      value: Math.round((rows.value / rate) * 10) / 10,
      method: observed && history.seconds > 0 ? 'observed' : 'guess',
    },
  };
}
