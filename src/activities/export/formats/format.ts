/**
 * One output format of the export: the fixed bytes before and after the parts, how many rows a part
 * may hold, and how a part's bytes are produced. Part bytes depend only on the rows and on the writer
 * state after the previous part (carried in the checkpoint), so a resumed export writes exactly the
 * bytes an uninterrupted one would.
 */
import type { Readable } from 'node:stream';
import type { ColumnDef, DatasetDef } from '../../../datasets/registry.js';
import type { ExportQuery } from '../../../datasets/query.js';
import type { Sql } from '../../../db/client.js';
import type { ExportRequest, ParquetState, PdfState, XlsxState } from '../../../shared/jobs.js';

export type RenderState = XlsxState | PdfState | ParquetState | undefined;

export interface ExportSpec {
  ds: DatasetDef;
  cols: ColumnDef[];
  query: ExportQuery;
  request: ExportRequest;
  /** When the export was first started (ISO), printed in PDFs; fixed across attempts. */
  generatedAt: string;
}

export interface PartInput {
  conn: Sql;
  /** Rows after `lower` up to and including `upper`, in the export's order. */
  lower: string | null;
  upper: string;
  /** Rows exported before this part, and rows in it. */
  rowsBefore: number;
  rows: number;
  state: RenderState;
}

export interface PartOutput {
  body: Readable;
  /** The writer state after this part; call once `body` has been consumed. */
  after(): RenderState;
}

export interface FormatWriter {
  contentType: string;
  extension: string;
  initialState(): RenderState;
  /** Whether a part's bytes depend on its rows alone (no state from the part before), so parts may be read side by side. */
  independentParts: boolean;
  prefix(): Buffer;
  /** At most how many rows the part starting after `rowsBefore` rows may hold (given the configured size). */
  partRows(rowsBefore: number, configured: number): number;
  part(input: PartInput): Promise<PartOutput>;
  suffix(state: RenderState, rows: number): Buffer;
}
