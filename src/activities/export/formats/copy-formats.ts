/**
 * CSV and NDJSON: PostgreSQL writes every byte (`COPY … TO STDOUT`), Node only streams it to storage.
 * NDJSON uses COPY's CSV mode with a quote and delimiter byte that JSON text never contains raw, so
 * each JSON document comes out verbatim, one per line.
 */
import { copyOut } from '../../../db/copy-out.js';
import { quoteIdent, quoteLiteral } from '../../../db/sql-text.js';
import type { ExportSpec, FormatWriter } from './format.js';
import { pipeline } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { EXPORT_CONTENT_TYPES, GZIP_CONTENT_TYPE } from '../../../shared/jobs.js';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvWriter(spec: ExportSpec): FormatWriter {
  const select = spec.cols.map((c) => quoteIdent(c.column)).join(', ');
  return {
    contentType: EXPORT_CONTENT_TYPES.csv,
    extension: 'csv',
    independentParts: true,
    initialState: () => undefined,
    prefix: () => {
      const header = Buffer.from(spec.cols.map((c) => csvCell(c.name)).join(',') + '\n', 'utf8');
      return spec.request.bom ? Buffer.concat([BOM, header]) : header;
    },
    partRows: (_before, configured) => configured,
    async part({ conn, lower, upper }) {
      const body = await copyOut(
        conn,
        `copy (${spec.query.range(select, lower, upper)}) to stdout with (format csv)`,
      );
      return { body, after: () => undefined };
    },
    suffix: () => Buffer.alloc(0),
  };
}

export function ndjsonWriter(spec: ExportSpec): FormatWriter {
  const pairs = spec.cols.map((c) => `${quoteLiteral(c.name)}, ${quoteIdent(c.column)}`).join(', ');
  // json_build_object takes at most 100 arguments; a longer row is built from pieces.
  const select =
    spec.cols.length <= 50
      ? `json_build_object(${pairs})::text`
      : `(${spec.cols.map((c) => `jsonb_build_object(${quoteLiteral(c.name)}, ${quoteIdent(c.column)})`).join(' || ')})::text`;
  return {
    contentType: EXPORT_CONTENT_TYPES.ndjson,
    extension: 'ndjson',
    independentParts: true,
    initialState: () => undefined,
    prefix: () => Buffer.alloc(0),
    partRows: (_before, configured) => configured,
    async part({ conn, lower, upper }) {
      const body = await copyOut(
        conn,
        `copy (${spec.query.range(select, lower, upper)}) to stdout with (format csv, quote e'\\x01', delimiter e'\\x02')`,
      );
      return { body, after: () => undefined };
    },
    suffix: () => Buffer.alloc(0),
  };
}

/** A gzip member of `bytes`, or nothing for no bytes. */
function gzipMember(bytes: Buffer): Buffer {
  return bytes.length === 0 ? bytes : gzipSync(bytes, { level: GZIP_LEVEL });
}

const GZIP_LEVEL = 6;

/**
 * `inner` gzip-compressed as it is written: the prefix, each part and the suffix are each one gzip
 * member (RFC 1952 allows members one after another; readers decompress them as one stream), so parts
 * stay independent, a retried part is rewritten whole, and the same rows give the same bytes (the
 * member header carries no time or name).
 */
export function gzipped(inner: FormatWriter): FormatWriter {
  return {
    ...inner,
    contentType: GZIP_CONTENT_TYPE,
    extension: `${inner.extension}.gz`,
    prefix: () => gzipMember(inner.prefix()),
    suffix: (state, rows) => gzipMember(inner.suffix(state, rows)),
    async part(input) {
      const out = await inner.part(input);
      const gz = createGzip({ level: GZIP_LEVEL });
      pipeline(out.body, gz, () => {
        // An error is the gzip stream's own (pipeline destroys it with the error): whoever reads it sees it.
      });
      return { body: gz, after: () => out.after() };
    },
  };
}
