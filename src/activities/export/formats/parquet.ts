/**
 * Parquet without a library: the file is `PAR1`, one row group per part, then the footer (FileMetaData
 * in Thrift's compact protocol, its length, `PAR1`), written at publish time from the checkpoint. A
 * part's rows are read with a binary COPY over the part's own connection (no row objects: each cell's
 * bytes go straight into its column) and written column by column: data pages (v1, PLAIN values,
 * definition levels of nullable columns as RLE runs) of PAGE_ROWS rows each, GZIP-compressed as each
 * fills. A row group's bytes depend on its rows alone; the checkpoint carries each row group's row
 * count and chunk sizes, from which the footer computes every chunk's offset, so a resumed export
 * writes exactly the bytes an uninterrupted one would.
 *
 * Types: integer → INT64; decimal → FIXED_LEN_BYTE_ARRAY(16) DECIMAL(38, decimals, or 9 where the
 * datasets file gives none), rounded by PostgreSQL, exact; timestamp → INT64 TIMESTAMP(MICROS, UTC);
 * text → BYTE_ARRAY STRING; boolean → BOOLEAN. Nullable columns are OPTIONAL, the others REQUIRED.
 */
import { Readable } from 'node:stream';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import zlib from 'node:zlib';
import { BinaryCopyParser } from '../../../db/copy-binary.js';
import { copyOut } from '../../../db/copy-out.js';
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
const GZIP_LEVEL = 6;
/** Rows per data page: a column holds one page uncompressed at a time. */
const PAGE_ROWS = 8192;
/** Encoding time after which the part's loop lets the event loop run. */
const YIELD_AFTER_MS = 5;

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

/**
 * SQL of one cell as binary COPY sends it to the encoder: integers and timestamps (microseconds since
 * the epoch: timestamptz has microsecond resolution, extract is exact numeric) as int8, decimals as the
 * text of the value rounded by PostgreSQL, text as its UTF-8 bytes, booleans as one byte.
 */
function cellSql(c: ColumnDef, i: number): string {
  const col = quoteIdent(c.column);
  switch (c.type) {
    case 'integer':
      return `${col}::int8 as c${i}`;
    case 'timestamp':
      return `(extract(epoch from ${col}) * 1000000)::int8 as c${i}`;
    case 'decimal':
      return `round(${col}::numeric, ${decimalScale(c)})::text as c${i}`;
    case 'text':
      return `${col}::text as c${i}`;
    case 'boolean':
      return `${col}::bool as c${i}`;
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

  /** One cell as binary COPY sends it (see cellSql): `len` bytes at `start` of `src`, or NULL when `len` < 0. */
  add(src: Buffer, start: number, len: number): void {
    this.value(src, start, len);
    if (++this.pageRows === PAGE_ROWS) this.flushPage();
  }

  private value(src: Buffer, start: number, len: number): void {
    if (len < 0) {
      if (!this.col.nullable) throw new Error(`null in column ${this.col.name}, declared not nullable`);
      this.levels.push(0);
      return;
    }
    if (this.col.nullable) this.levels.push(1);
    switch (this.col.type) {
      case 'integer':
      case 'timestamp': {
        if (len !== 8) throw new Error(`column ${this.col.name}: an int8 of ${len} bytes`);
        this.room(8);
        // Big-endian on the wire, little-endian in Parquet.
        for (let k = 0; k < 8; k++) this.buf[this.at + k] = src[start + 7 - k]!;
        this.at += 8;
        return;
      }
      case 'decimal':
        this.room(DECIMAL_BYTES);
        decimalBytes(src.toString('latin1', start, start + len), decimalScale(this.col)).copy(
          this.buf,
          this.at,
        );
        this.at += DECIMAL_BYTES;
        return;
      case 'text':
        this.room(4 + len);
        this.buf.writeUInt32LE(len, this.at);
        src.copy(this.buf, this.at + 4, start, start + len);
        this.at += 4 + len;
        return;
      case 'boolean':
        if (len !== 1) throw new Error(`column ${this.col.name}: a boolean of ${len} bytes`);
        if (src[start] !== 0) this.bits |= 1 << this.bitCount;
        if (++this.bitCount === 8) this.flushBits();
        return;
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

/**
 * A row group built from a binary COPY stream of the columns (see cellSql), chunk by chunk. The first
 * problem (a value the encoder refuses) is kept and thrown by `finish`, so the stream is still read to
 * its end and its connection stays usable.
 */
class RowGroupBuilder {
  private readonly builders: ColumnBuilder[];
  private readonly parser: BinaryCopyParser;
  private rows = 0;
  private failed: Error | undefined;

  constructor(cols: ColumnDef[]) {
    this.builders = cols.map((c) => new ColumnBuilder(c));
    this.parser = new BinaryCopyParser(cols.length);
  }

  push(chunk: Buffer): void {
    if (this.failed !== undefined) return;
    const { builders } = this;
    try {
      this.parser.push(chunk, (buf, at) => {
        for (let i = 0; i < builders.length; i++) builders[i]!.add(buf, at[2 * i]!, at[2 * i + 1]!);
        this.rows++;
      });
    } catch (err) {
      this.failed = err instanceof Error ? err : new Error(String(err));
    }
  }

  finish(): { bytes: Buffer; rows: number; sizes: number[] } {
    if (this.failed !== undefined) throw this.failed;
    this.parser.end();
    const out: Buffer[] = [];
    const sizes: number[] = [];
    for (const b of this.builders) {
      const chunk = b.finish();
      out.push(chunk.bytes);
      sizes.push(chunk.uncompressed, chunk.compressed);
    }
    return { bytes: Buffer.concat(out), rows: this.rows, sizes };
  }
}

/** One row group from the chunks of a binary COPY stream of the columns. */
export function rowGroup(
  cols: ColumnDef[],
  chunks: Iterable<Buffer>,
): { bytes: Buffer; rows: number; sizes: number[] } {
  const builder = new RowGroupBuilder(cols);
  for (const chunk of chunks) builder.push(chunk);
  return builder.finish();
}

export function parquetWriter(spec: ExportSpec): FormatWriter {
  const select = spec.cols.map(cellSql).join(', ');
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
        const builder = new RowGroupBuilder(spec.cols);
        const rows = await copyOut(
          conn,
          `copy (${spec.query.range(select, lower, upper)}) to stdout with (format binary)`,
        );
        let since = performance.now();
        for await (const chunk of rows) {
          builder.push(chunk as Buffer);
          // Chunks that are already buffered arrive as microtasks, which never let timers and I/O in:
          // give the event loop a turn every few milliseconds of encoding.
          if (performance.now() - since > YIELD_AFTER_MS) {
            await yieldToLoop();
            since = performance.now();
          }
        }
        group = builder.finish();
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
