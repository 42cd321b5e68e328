/**
 * The Parquet writer without a database: Thrift compact encoding, definition levels, exact decimals,
 * and a file written part by part (row groups, then the footer from the carried state) read back by
 * pyarrow (an independent reader, provisioned by `npm run setup -- --for test`).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ColumnDef } from '../../src/datasets/registry.js';
import {
  decimalBytes,
  definitionLevels,
  MAGIC,
  parquetFooter,
  rowGroup,
} from '../../src/activities/export/formats/parquet.js';
import {
  binary,
  bool,
  encodeStruct,
  i32,
  i64,
  list,
  struct,
  varint,
  zigzag,
} from '../../src/activities/export/formats/thrift-compact.js';
import type { ParquetState } from '../../src/shared/jobs.js';
import { requirePyarrowPython } from '../../tools/pyarrow.js';

const execFileAsync = promisify(execFile);
const READ_BACK = path.join(import.meta.dirname, '..', 'helpers', 'read-back.py');

const COLS: ColumnDef[] = [
  { name: 'id', column: 'id', label: 'Id', type: 'integer' },
  { name: 'amount', column: 'amount', label: 'Amount', type: 'decimal', decimals: 2 },
  { name: 'ratio', column: 'ratio', label: 'Ratio', type: 'decimal', nullable: true },
  { name: 'created_at', column: 'created_at', label: 'Created', type: 'timestamp' },
  { name: 'note', column: 'note', label: 'Note', type: 'text', nullable: true },
  { name: 'paid', column: 'paid', label: 'Paid', type: 'boolean', nullable: true },
];

type Row = (string | null)[];

/**
 * Rows as PostgreSQL's binary COPY sends them (what the writer reads): int8 big-endian for integers and
 * timestamps, the UTF-8 text of decimals and text, one byte for booleans; cut into chunks of `cut` bytes.
 */
function binaryCopy(rows: Row[], cut = 4093): Buffer[] {
  const out: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)];
  for (const r of rows) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(COLS.length);
    out.push(count);
    COLS.forEach((c, i) => {
      const v = r[i] ?? null;
      let field: Buffer;
      if (v === null) field = Buffer.alloc(0);
      else if (c.type === 'integer' || c.type === 'timestamp') {
        field = Buffer.alloc(8);
        field.writeBigInt64BE(BigInt(v));
      } else if (c.type === 'boolean') field = Buffer.from([v === 'true' ? 1 : 0]);
      else field = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(4);
      len.writeInt32BE(v === null ? -1 : field.length);
      out.push(len, field);
    });
  }
  out.push(Buffer.from([0xff, 0xff]));
  const all = Buffer.concat(out);
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; at += cut) chunks.push(all.subarray(at, at + cut));
  return chunks;
}

/** A row group of these rows, read from their binary COPY stream. */
function groupOf(rows: Row[], cut?: number) {
  return rowGroup(COLS, binaryCopy(rows, cut));
}

function rows(from: number, n: number): Row[] {
  return [...Array(n).keys()].map((k) => {
    const i = from + k;
    return [
      String(i * 1_000_000_007),
      `${i % 2 ? '-' : ''}${i}.${String(i % 100).padStart(2, '0')}`,
      i % 4 === 0 ? null : `${i}.123456789`,
      String(1_700_000_000_000_000 + i * 1_000_001),
      i % 5 === 0 ? null : `row ${i} é "q", ${'x'.repeat(i % 7)}`,
      i % 3 === 0 ? null : i % 2 ? 'true' : 'false',
    ];
  });
}

/** A whole file from row groups of these sizes, as the export writes it: prefix, parts, suffix from state. */
function fileOf(groups: Row[][]): { bytes: Buffer; state: ParquetState } {
  let state: ParquetState = { kind: 'parquet', bytes: MAGIC.length, rowGroups: [] };
  const out: Buffer[] = [MAGIC];
  for (const g of groups) {
    const part = groupOf(g);
    out.push(part.bytes);
    // Through JSON, as the checkpoint travels in heartbeat details.
    state = JSON.parse(
      JSON.stringify({
        ...state,
        bytes: state.bytes + part.bytes.length,
        rowGroups: [...state.rowGroups, [part.rows, ...part.sizes]],
      }),
    ) as ParquetState;
  }
  out.push(parquetFooter(COLS, state));
  return { bytes: Buffer.concat(out), state };
}

describe('thrift compact protocol', () => {
  it('writes varints, zigzag and field headers as the spec says', () => {
    expect(varint(0n)).toEqual([0]);
    expect(varint(300n)).toEqual([0xac, 0x02]);
    expect(zigzag(-1n, 32)).toEqual([1]);
    expect(zigzag(1n, 32)).toEqual([2]);
    expect(zigzag(-64n, 64)).toEqual([127]);
    // i32 field 1 = 3; bool field 2 = true; binary field 3 = "ab"; stop.
    expect([...encodeStruct(struct([1, i32(3)], [2, bool(true)], [3, binary('ab')]))]).toEqual([
      0x15, 0x06, 0x11, 0x18, 0x02, 0x61, 0x62, 0x00,
    ]);
    // A jump of more than 15 ids: type byte, then the id as zigzag varint; absent fields are skipped.
    expect([...encodeStruct(struct([1, undefined], [20, i64(1)]))]).toEqual([0x06, 40, 0x02, 0x00]);
    // A list of 2 i32 and one of 15 (long form), a nested empty struct.
    expect([...encodeStruct(struct([1, list('i32', [i32(0), i32(3)])]))]).toEqual([
      0x19, 0x25, 0x00, 0x06, 0x00,
    ]);
    const long = encodeStruct(
      struct([
        1,
        list(
          'i32',
          Array.from({ length: 15 }, () => i32(1)),
        ),
      ]),
    );
    expect([...long.subarray(0, 3)]).toEqual([0x19, 0xf5, 15]);
    expect([...encodeStruct(struct([10, struct([1, struct()])]))]).toEqual([0xac, 0x1c, 0x00, 0x00, 0x00]);
  });

  it('refuses fields out of order and i32 overflow', () => {
    expect(() => encodeStruct(struct([2, i32(1)], [1, i32(1)]))).toThrow(/after/);
    expect(() => encodeStruct(struct([1, i32(2 ** 31)]))).toThrow(/i32/);
  });
});

describe('parquet encodings', () => {
  it('writes definition levels as RLE runs behind a 4-byte length', () => {
    const b = definitionLevels(Uint8Array.from([1, 1, 1, 0, 0, 1]));
    expect([...b]).toEqual([6, 0, 0, 0, 3 << 1, 1, 2 << 1, 0, 1 << 1, 1]);
    expect([...definitionLevels(new Uint8Array(0))]).toEqual([0, 0, 0, 0]);
  });

  it('writes decimals exactly as 16-byte two’s complement at the column scale', () => {
    expect(decimalBytes('1.50', 2).readBigInt64BE(8)).toBe(150n);
    expect(decimalBytes('-0.01', 2).toString('hex')).toBe('ff'.repeat(16));
    expect(decimalBytes('12', 3).readBigInt64BE(8)).toBe(12000n);
    const max = '9'.repeat(36) + '.99';
    const b = decimalBytes(max, 2);
    expect((b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8)).toBe(10n ** 38n - 1n);
    expect(() => decimalBytes('1.234', 2)).toThrow(/decimal places/);
    expect(() => decimalBytes('1' + '0'.repeat(37) + '.00', 2)).toThrow(/digits/);
    expect(() => decimalBytes('NaN', 2)).toThrow(/not a decimal/);
  });

  it('refuses a null in a column not declared nullable', () => {
    expect(() => groupOf([[null, '1.00', null, '0', null, null]])).toThrow(/not nullable/);
  });

  it('reads the binary COPY stream however it is cut, and refuses one that is cut short or of another width', () => {
    const whole = groupOf(rows(0, 300), Number.MAX_SAFE_INTEGER);
    for (const cut of [1, 2, 7, 19, 64])
      expect(groupOf(rows(0, 300), cut).bytes.equals(whole.bytes), `chunks of ${cut} bytes`).toBe(true);
    expect(whole.rows).toBe(300);
    // A text field longer than many chunks (gathered, then joined once).
    const long: Row = ['1', '1.00', null, '0', 'é'.repeat(100_000), 'true'];
    expect(groupOf([long], 1000).rows).toBe(1);
    const chunks = binaryCopy(rows(0, 10), Number.MAX_SAFE_INTEGER);
    const truncated = chunks[0]!.subarray(0, chunks[0]!.length - 5);
    expect(() => rowGroup(COLS, [truncated])).toThrow(/without its trailer/);
    expect(() => rowGroup(COLS.slice(1), chunks)).toThrow(/a row of 6 fields, expected 5/);
    expect(() => rowGroup(COLS, [Buffer.from('id,amount\n1,2\n'.repeat(3))])).toThrow(/not a binary COPY/);
  });

  it('gives a row group the same bytes wherever it stands, and the footer checks the carried sizes', () => {
    const a = groupOf(rows(0, 50));
    const b = groupOf(rows(0, 50));
    expect(a.bytes.equals(b.bytes)).toBe(true);
    const { state } = fileOf([rows(0, 50)]);
    expect(() => parquetFooter(COLS, { ...state, bytes: state.bytes + 1 })).toThrow(/add up/);
  });
});

describe('parquet file read back by pyarrow', () => {
  async function read(bytes: Buffer): Promise<{
    columns: { name: string; type: string; nullable: boolean }[];
    rowGroups: number;
    rows: (string | boolean | null)[][];
  }> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-parquet-'));
    try {
      const file = path.join(dir, 'x.parquet');
      await fs.writeFile(file, bytes);
      const { stdout } = await execFileAsync(requirePyarrowPython(), [READ_BACK, 'parquet', file], {
        maxBuffer: 64 * 1024 * 1024,
      });
      return JSON.parse(stdout) as Awaited<ReturnType<typeof read>>;
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  it('of an export without rows: the schema and no row group', async () => {
    const back = await read(fileOf([]).bytes);
    expect(back.columns.map((c) => c.type)).toEqual([
      'int64',
      'decimal128(38, 2)',
      'decimal128(38, 9)',
      'timestamp[us, tz=UTC]',
      'string',
      'bool',
    ]);
    expect(back.rowGroups).toBe(0);
    expect(back.rows).toEqual([]);
  });

  it('has the rows, types and nulls of its row groups', async () => {
    // The last group is larger than a data page (8,192 rows): its column chunks hold several pages.
    const groups = [rows(0, 700), rows(700, 700), rows(1400, 20_123)];
    const back = await read(fileOf(groups).bytes);
    expect(back.columns).toEqual([
      { name: 'id', type: 'int64', nullable: false },
      { name: 'amount', type: 'decimal128(38, 2)', nullable: false },
      { name: 'ratio', type: 'decimal128(38, 9)', nullable: true },
      { name: 'created_at', type: 'timestamp[us, tz=UTC]', nullable: false },
      { name: 'note', type: 'string', nullable: true },
      { name: 'paid', type: 'bool', nullable: true },
    ]);
    expect(back.rowGroups).toBe(3);
    const expected = groups
      .flat()
      .map((r) => [
        r[0],
        r[1],
        r[2] === null ? null : r[2],
        new Date(Number(BigInt(r[3]!) / 1000n)).toISOString().replace('Z', '') +
          String(BigInt(r[3]!) % 1000n).padStart(3, '0') +
          'Z',
        r[4],
        r[5] === null ? null : r[5] === 'true',
      ]);
    expect(back.rows).toEqual(expected);
  });
});
