/**
 * The part of Thrift's compact protocol that Parquet's metadata needs (page headers, the file footer):
 * structs of i32, i64, bool, binary and list fields. A value says its own Thrift type, so a struct is
 * just its fields in ascending id order.
 */

export type ThriftValue =
  | { t: 'i32'; v: number }
  | { t: 'i64'; v: number | bigint }
  | { t: 'bool'; v: boolean }
  | { t: 'binary'; v: string | Buffer }
  | { t: 'list'; elem: 'i32' | 'binary' | 'struct'; items: ThriftValue[] }
  | { t: 'struct'; fields: ThriftField[] };

/** A field id and its value; an undefined value is an absent optional field. */
export type ThriftField = [id: number, value: ThriftValue | undefined];

export const i32 = (v: number): ThriftValue => ({ t: 'i32', v });
export const i64 = (v: number | bigint): ThriftValue => ({ t: 'i64', v });
export const bool = (v: boolean): ThriftValue => ({ t: 'bool', v });
export const binary = (v: string | Buffer): ThriftValue => ({ t: 'binary', v });
export const struct = (...fields: ThriftField[]): ThriftValue => ({ t: 'struct', fields });
export const list = (elem: 'i32' | 'binary' | 'struct', items: ThriftValue[]): ThriftValue => ({
  t: 'list',
  elem,
  items,
});

// Compact protocol type ids.
const TYPE = { true: 1, false: 2, i32: 5, i64: 6, binary: 8, list: 9, struct: 12 } as const;

/** Unsigned LEB128 of a non-negative integer. */
export function varint(n: bigint): number[] {
  if (n < 0n) throw new Error('varint of a negative number');
  const out: number[] = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) byte |= 0x80;
    out.push(byte);
  } while (n > 0n);
  return out;
}

/** Zigzag then varint, as compact i16/i32/i64 are written. */
export function zigzag(n: bigint, bits: 32 | 64): number[] {
  const z = (n << 1n) ^ (n >> BigInt(bits - 1));
  return varint(BigInt.asUintN(bits, z));
}

function typeId(v: ThriftValue): number {
  return v.t === 'bool' ? (v.v ? TYPE.true : TYPE.false) : TYPE[v.t];
}

function writeValue(out: number[], v: ThriftValue): void {
  switch (v.t) {
    case 'i32':
      if (!Number.isInteger(v.v) || v.v < -(2 ** 31) || v.v >= 2 ** 31) throw new Error(`not an i32: ${v.v}`);
      out.push(...zigzag(BigInt(v.v), 32));
      return;
    case 'i64':
      out.push(...zigzag(BigInt(v.v), 64));
      return;
    case 'bool':
      // Only inside lists (a field carries its bool in its header); Parquet's metadata has none.
      out.push(v.v ? 1 : 2);
      return;
    case 'binary': {
      const b = typeof v.v === 'string' ? Buffer.from(v.v, 'utf8') : v.v;
      out.push(...varint(BigInt(b.length)));
      for (const byte of b) out.push(byte);
      return;
    }
    case 'list': {
      const elem = v.elem === 'struct' ? TYPE.struct : TYPE[v.elem];
      if (v.items.length < 15) out.push((v.items.length << 4) | elem);
      else out.push(0xf0 | elem, ...varint(BigInt(v.items.length)));
      for (const item of v.items) {
        if (item.t !== v.elem) throw new Error(`list of ${v.elem} holds a ${item.t}`);
        writeValue(out, item);
      }
      return;
    }
    case 'struct': {
      let last = 0;
      for (const [id, value] of v.fields) {
        if (value === undefined) continue;
        if (id <= last) throw new Error(`struct field ${id} after ${last}`);
        const delta = id - last;
        if (delta <= 15) out.push((delta << 4) | typeId(value));
        else out.push(typeId(value), ...zigzag(BigInt(id), 32));
        if (value.t !== 'bool') writeValue(out, value);
        last = id;
      }
      out.push(0);
      return;
    }
  }
}

/** The compact-protocol bytes of a struct. */
export function encodeStruct(v: ThriftValue): Buffer {
  if (v.t !== 'struct') throw new Error('encodeStruct takes a struct');
  const out: number[] = [];
  writeValue(out, v);
  return Buffer.from(out);
}
