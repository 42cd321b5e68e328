/**
 * Just enough ZIP to write an XLSX in resumable pieces: local headers with data descriptors (sizes
 * follow the data), raw-deflate segments ending in a sync flush so that independently compressed
 * segments concatenate into one valid stream, and the central directory at the end. Fixed timestamps
 * keep the bytes deterministic. Offsets are 32-bit: a file stays under 4 GiB (about 50 million rows).
 */
import zlib from 'node:zlib';
import type { ZipEntryState } from '../../../shared/jobs.js';

// 1980-01-01 00:00 in DOS format.
const DOS_TIME = 0;
const DOS_DATE = 0x21;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;

export function localHeader(name: string, known?: { crc: number; compressedSize: number; size: number }) {
  const nameBuf = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(30);
  b.writeUInt32LE(0x04034b50, 0);
  b.writeUInt16LE(20, 4);
  b.writeUInt16LE(FLAG_UTF8 | (known ? 0 : FLAG_DESCRIPTOR), 6);
  b.writeUInt16LE(8, 8);
  b.writeUInt16LE(DOS_TIME, 10);
  b.writeUInt16LE(DOS_DATE, 12);
  b.writeUInt32LE(known?.crc ?? 0, 14);
  b.writeUInt32LE(known?.compressedSize ?? 0, 18);
  b.writeUInt32LE(known?.size ?? 0, 22);
  b.writeUInt16LE(nameBuf.length, 26);
  b.writeUInt16LE(0, 28);
  return Buffer.concat([b, nameBuf]);
}

export function dataDescriptor(e: ZipEntryState): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(0x08074b50, 0);
  b.writeUInt32LE(e.crc >>> 0, 4);
  b.writeUInt32LE(e.compressedSize, 8);
  b.writeUInt32LE(e.size, 12);
  return b;
}

/** A raw-deflate segment that continues a stream (ends with a sync flush, no final block). */
export function deflateSegment(data: Buffer): Buffer {
  return zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** The last segment of a stream (ends with a final block). */
export function deflateFinal(data: Buffer): Buffer {
  return zlib.deflateRawSync(data);
}

/** A complete small entry (sizes known up front), and its directory record. */
export function wholeEntry(
  name: string,
  data: Buffer,
  offset: number,
): { bytes: Buffer; entry: ZipEntryState } {
  const compressed = zlib.deflateRawSync(data);
  const entry = { name, offset, crc: zlib.crc32(data), compressedSize: compressed.length, size: data.length };
  return { bytes: Buffer.concat([localHeader(name, entry), compressed]), entry };
}

export function centralDirectory(entries: { entry: ZipEntryState; descriptor: boolean }[], offset: number) {
  const records = entries.map(({ entry: e, descriptor }) => {
    const nameBuf = Buffer.from(e.name, 'utf8');
    const b = Buffer.alloc(46);
    b.writeUInt32LE(0x02014b50, 0);
    b.writeUInt16LE(20, 4);
    b.writeUInt16LE(20, 6);
    b.writeUInt16LE(FLAG_UTF8 | (descriptor ? FLAG_DESCRIPTOR : 0), 8);
    b.writeUInt16LE(8, 10);
    b.writeUInt16LE(DOS_TIME, 12);
    b.writeUInt16LE(DOS_DATE, 14);
    b.writeUInt32LE(e.crc >>> 0, 16);
    b.writeUInt32LE(e.compressedSize, 20);
    b.writeUInt32LE(e.size, 24);
    b.writeUInt16LE(nameBuf.length, 28);
    b.writeUInt32LE(e.offset, 42);
    return Buffer.concat([b, nameBuf]);
  });
  const dir = Buffer.concat(records);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([dir, end]);
}
