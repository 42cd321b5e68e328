/**
 * Parquet without a library: the file is `PAR1`, one row group per part, then the footer (FileMetaData
 * in Thrift's compact protocol, its length, `PAR1`), written at publish time from the checkpoint. A
 * part's rows are read as values (every cell as text, like the PDF writer, over the part's own
 * connection) and written column by column: data pages (v1, PLAIN values, definition levels of
 * nullable columns as RLE runs) of PAGE_ROWS rows each, GZIP-compressed as each fills. A row group's bytes depend on its
 * rows alone; the checkpoint carries each row group's row count and chunk sizes, from which the footer
 * computes every chunk's offset, so a resumed export writes exactly the bytes an uninterrupted one would.
 *
 * Types: integer → INT64; decimal → FIXED_LEN_BYTE_ARRAY(16) DECIMAL(38, decimals, or 9 where the
 * datasets file gives none), rounded by PostgreSQL, exact; timestamp → INT64 TIMESTAMP(MICROS, UTC);
 * text → BYTE_ARRAY STRING; boolean → BOOLEAN. Nullable columns are OPTIONAL, the others REQUIRED.
 */
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { quoteIdent } from '../../../db/sql-text.js';
import type { ColumnDef } from '../../../datasets/registry.js';
import { EXPORT_CONTENT_TYPES, type ParquetState } from '../../../shared/jobs.js';
import type { ExportSpec, FormatWriter } from './format.js';
import {
  binary,
  bool,
  encodeStruct,
  i32,
  i64,
  list,
  struct,
  varint,
  type ThriftValue,
} from './thrift-compact.js';

export const MAGIC = Buffer.from('PAR1');
/** Scale of a decimal column whose datasets entry gives no `decimals`. */
export const DEFAULT_DECIMAL_SCALE = 9;
const DECIMAL_PRECISION = 38;
const DECIMAL_BYTES = 16;
const FETCH_ROWS = 2000;
const GZIP_LEVEL = 6;
/** Rows per data page: a column holds one page uncompressed at a time. */
const PAGE_ROWS = 8192;

// parquet.thrift enums.
const Type = { BOOLEAN: 0, INT64: 2, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const;
const Converted = { UTF8: 0, DECIMAL: 5, TIMESTAMP_MICROS: 10 } as const;
const Encoding = { PLAIN: 0, RLE: 3 } as const;
const Codec = { GZIP: 2 } as const;
const Repetition = { REQUIRED: 0, OPTIONAL: 1 } as const;
const DATA_PAGE = 0;

export function decimalScale(c: ColumnDef): number {
  return c.decimals ?? DEFAULT_DECIMAL_SCALE;
}

function physicalType(c: ColumnDef): number {
  switch (c.type) {
    case 'integer':
    case 'timestamp':
      return Type.INT64;
    case 'decimal':
      return Type.FIXED_LEN_BYTE_ARRAY;
    case 'text':
      return Type.BYTE_ARRAY;
    case 'boolean':
      return Type.BOOLEAN;
  }
}

/** The column's SchemaElement. */
function schemaElement(c: ColumnDef): ThriftValue {
  const repetition = i32(c.nullable ? Repetition.OPTIONAL : Repetition.REQUIRED);
  const name = binary(c.name);
  switch (c.type) {
    case 'integer':
    case 'boolean':
      return struct([1, i32(physicalType(c))], [3, repetition], [4, name]);
    case 'text':
      return struct(
        [1, i32(Type.BYTE_ARRAY)],
        [3, repetition],
        [4, name],
        [6, i32(Converted.UTF8)],
        [10, struct([1, struct()])],
      );
    case 'decimal': {
      const scale = decimalScale(c);
      return struct(
        [1, i32(Type.FIXED_LEN_BYTE_ARRAY)],
        [2, i32(DECIMAL_BYTES)],
        [3, repetition],
        [4, name],
        [6, i32(Converted.DECIMAL)],
        [7, i32(scale)],
        [8, i32(DECIMAL_PRECISION)],
        [10, struct([5, struct([1, i32(scale)], [2, i32(DECIMAL_PRECISION)])])],
      );
    }
    case 'timestamp':
      return struct(
        [1, i32(Type.INT64)],
        [3, repetition],
        [4, name],
        [6, i32(Converted.TIMESTAMP_MICROS)],
        // TimestampType { isAdjustedToUTC: true, unit: MICROS }
        [10, struct([8, struct([1, bool(true)], [2, struct([2, struct()])])])],
      );
  }
}

/** SQL text of one cell: every value as text, in a form the encoder parses exactly. */
function cellSql(c: ColumnDef, i: number): string {
  const col = quoteIdent(c.column);
  switch (c.type) {
    case 'timestamp':
      // Microseconds since the epoch (timestamptz has microsecond resolution; extract is exact numeric).
      return `(extract(epoch from ${col}) * 1000000)::int8::text as c${i}`;
    case 'decimal':
      return `round(${col}::numeric, ${decimalScale(c)})::text as c${i}`;
    default:
      return `${col}::text as c${i}`;
  }
}

/** RLE runs (the RLE/bit-packed hybrid with runs only) of bit width 1, with the 4-byte length first. */
export function definitionLevels(levels: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < levels.length;) {
    let j = i + 1;
    while (j < levels.length && levels[j] === levels[i]) j++;
    out.push(...varint(BigInt(j - i) << 1n), levels[i]!);
    i = j;
  }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(out.length);
  return Buffer.concat([len, Buffer.from(out)]);
}

/** The unscaled value of decimal text at `scale`, as 16 big-endian two's-complement bytes. */
export function decimalBytes(text: string, scale: number): Buffer {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new Error(`not a decimal: ${text}`);
  const frac = m[3] ?? '';
  if (frac.length > scale) throw new Error(`${text} has more than ${scale} decimal places`);
  const digits = (m[2]! + frac.padEnd(scale, '0')).replace(/^0+(?=\d)/, '');
  if (digits.length > DECIMAL_PRECISION)
    throw new Error(`${text} needs more than ${DECIMAL_PRECISION} digits`);
  let v = BigInt(digits);
  if (m[1]) v = -v;
  const u = BigInt.asUintN(128, v);
  const b = Buffer.alloc(DECIMAL_BYTES);
  b.writeBigUInt64BE(u >> 64n, 0);
  b.writeBigUInt64BE(BigInt.asUintN(64, u), 8);
  return b;
}

/**
 * One column's chunk of a row group: values PLAIN-encoded as they arrive, with their definition levels,
 * cut into data pages of PAGE_ROWS rows that are compressed as soon as they are full, so a row group
 * holds at most one uncompressed page per column in memory.
 */
class ColumnBuilder {
  private chunks: Buffer[] = [];
  private buf = Buffer.alloc(64 * 1024);
  private at = 0;
  private levels: number[] = [];
  private bits = 0;
  private bitCount = 0;
  private pageRows = 0;
  private pages: Buffer[] = [];
  private uncompressed = 0;
  private compressed = 0;

  constructor(readonly col: ColumnDef) {}

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    this.chunks.push(this.buf.subarray(0, this.at));
    this.buf = Buffer.alloc(Math.max(64 * 1024, n));
    this.at = 0;
  }

  add(text: string | null): void {
    this.value(text);
    if (++this.pageRows === PAGE_ROWS) this.flushPage();
  }

  private value(text: string | null): void {
    if (text === null) {
      if (!this.col.nullable) throw new Error(`null in column ${this.col.name}, declared not nullable`);
      this.levels.push(0);
      return;
    }
    if (this.col.nullable) this.levels.push(1);
    switch (this.col.type) {
      case 'integer':
      case 'timestamp':
        this.room(8);
        this.buf.writeBigInt64LE(BigInt(text), this.at);
        this.at += 8;
        return;
      case 'decimal':
        this.room(DECIMAL_BYTES);
        decimalBytes(text, decimalScale(this.col)).copy(this.buf, this.at);
        this.at += DECIMAL_BYTES;
        return;
      case 'text': {
        const len = Buffer.byteLength(text, 'utf8');
        this.room(4 + len);
        this.buf.writeUInt32LE(len, this.at);
        this.buf.write(text, this.at + 4, 'utf8');
        this.at += 4 + len;
        return;
      }
      case 'boolean': {
        if (text === 'true') this.bits |= 1 << this.bitCount;
        else if (text !== 'false') throw new Error(`not a boolean: ${text}`);
        if (++this.bitCount === 8) this.flushBits();
        return;
      }
    }
  }

  private flushBits(): void {
    this.room(1);
    this.buf[this.at++] = this.bits;
    this.bits = 0;
    this.bitCount = 0;
  }

  /** The rows since the last page as one data page: its header and compressed bytes. */
  private flushPage(): void {
    if (this.pageRows === 0) return;
    if (this.bitCount > 0) this.flushBits();
    const parts = [...this.chunks, this.buf.subarray(0, this.at)];
    if (this.col.nullable) parts.unshift(definitionLevels(Uint8Array.from(this.levels)));
    const page = Buffer.concat(parts);
    const compressed = zlib.gzipSync(page, { level: GZIP_LEVEL });
    const header = encodeStruct(
      struct(
        [1, i32(DATA_PAGE)],
        [2, i32(page.length)],
        [3, i32(compressed.length)],
        [
          5,
          struct(
            [1, i32(this.pageRows)],
            [2, i32(Encoding.PLAIN)],
            [3, i32(Encoding.RLE)],
            [4, i32(Encoding.RLE)],
          ),
        ],
      ),
    );
    this.pages.push(header, compressed);
    this.uncompressed += header.length + page.length;
    this.compressed += header.length + compressed.length;
    this.chunks = [];
    this.at = 0;
    this.levels = [];
    this.pageRows = 0;
  }

  /** The column chunk: its pages, and its sizes. */
  finish(): { bytes: Buffer; uncompressed: number; compressed: number } {
    this.flushPage();
    return {
      bytes: Buffer.concat(this.pages),
      uncompressed: this.uncompressed,
      compressed: this.compressed,
    };
  }
}

/** The footer: FileMetaData of the row groups in `state`, its length, and the closing magic. */
export function parquetFooter(cols: ColumnDef[], state: ParquetState): Buffer {
  let offset = MAGIC.length;
  let rows = 0;
  const groups = state.rowGroups.map(([groupRows, ...sizes]) => {
    const start = offset;
    let total = 0;
    let totalCompressed = 0;
    const chunks = cols.map((c, i) => {
      const uncompressed = sizes[2 * i]!;
      const compressed = sizes[2 * i + 1]!;
      const at = offset;
      offset += compressed;
      total += uncompressed;
      totalCompressed += compressed;
      const encodings = c.nullable ? [Encoding.PLAIN, Encoding.RLE] : [Encoding.PLAIN];
      return struct(
        [2, i64(at)],
        [
          3,
          struct(
            [1, i32(physicalType(c))],
            [2, list('i32', encodings.map(i32))],
            [3, list('binary', [binary(c.name)])],
            [4, i32(Codec.GZIP)],
            [5, i64(groupRows!)],
            [6, i64(uncompressed)],
            [7, i64(compressed)],
            [9, i64(at)],
          ),
        ],
      );
    });
    rows += groupRows!;
    return struct(
      [1, list('struct', chunks)],
      [2, i64(total)],
      [3, i64(groupRows!)],
      [5, i64(start)],
      [6, i64(totalCompressed)],
    );
  });
  if (offset !== state.bytes)
    throw new Error(`parquet state: ${state.bytes} bytes, row groups add up to ${offset}`);
  const meta = encodeStruct(
    struct(
      [1, i32(1)],
      [2, list('struct', [struct([4, binary('schema')], [5, i32(cols.length)]), ...cols.map(schemaElement)])],
      [3, i64(rows)],
      [4, list('struct', groups)],
      [6, binary('offload')],
    ),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(meta.length);
  return Buffer.concat([meta, len, MAGIC]);
}

/** One row group of `rows` (each cell as text or null, in column order). */
export function rowGroup(
  cols: ColumnDef[],
  rows: Iterable<(string | null)[]>,
): { bytes: Buffer; rows: number; sizes: number[] } {
  const builders = cols.map((c) => new ColumnBuilder(c));
  let n = 0;
  for (const r of rows) {
    for (let i = 0; i < builders.length; i++) builders[i]!.add(r[i] ?? null);
    n++;
  }
  return finishGroup(builders, n);
}

function finishGroup(
  builders: ColumnBuilder[],
  rows: number,
): { bytes: Buffer; rows: number; sizes: number[] } {
  const out: Buffer[] = [];
  const sizes: number[] = [];
  for (const b of builders) {
    const chunk = b.finish();
    out.push(chunk.bytes);
    sizes.push(chunk.uncompressed, chunk.compressed);
  }
  return { bytes: Buffer.concat(out), rows, sizes };
}

export function parquetWriter(spec: ExportSpec): FormatWriter {
  const select = spec.cols.map(cellSql).join(', ');
  const width = spec.cols.length;
  return {
    contentType: EXPORT_CONTENT_TYPES.parquet,
    extension: 'parquet',
    // The state after a part lists the row groups before it (for the footer): parts run in order.
    independentParts: false,
    initialState: (): ParquetState => ({ kind: 'parquet', bytes: MAGIC.length, rowGroups: [] }),
    prefix: () => MAGIC,
    partRows: (_before, configured) => configured,
    part({ conn, lower, upper, state }) {
      if (state?.kind !== 'parquet') throw new Error('parquet part without parquet state');
      let group: { bytes: Buffer; rows: number; sizes: number[] } | undefined;
      async function* body() {
        const builders = spec.cols.map((c) => new ColumnBuilder(c));
        let rows = 0;
        const cursor = conn
          .unsafe<Record<string, string | null>[]>(spec.query.range(select, lower, upper))
          .cursor(FETCH_ROWS);
        for await (const batch of cursor) {
          for (const r of batch) {
            for (let i = 0; i < width; i++) builders[i]!.add(r[`c${i}`] ?? null);
            rows++;
          }
        }
        group = finishGroup(builders, rows);
        yield group.bytes;
      }
      return Promise.resolve({
        body: Readable.from(body(), { objectMode: false }),
        after: (): ParquetState => {
          if (!group) throw new Error('parquet part not finished');
          return {
            kind: 'parquet',
            bytes: state.bytes + group.bytes.length,
            rowGroups: [...state.rowGroups, [group.rows, ...group.sizes]],
          };
        },
      });
    },
    suffix(state) {
      if (state?.kind !== 'parquet') throw new Error('parquet suffix without parquet state');
      return parquetFooter(spec.cols, state);
    },
  };
}
