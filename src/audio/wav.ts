/** Just enough RIFF/WAVE for 16-bit mono PCM: a header for a known length, and reading one back. */

const HEADER_BYTES = 44;
/** A RIFF size field is 32 bits. */
export const MAX_WAV_DATA_BYTES = 0xffffffff - (HEADER_BYTES - 8);

/** The 44-byte header of a PCM WAV file holding `dataBytes` of s16le mono samples. */
export function wavHeader(sampleRate: number, dataBytes: number): Buffer {
  if (dataBytes > MAX_WAV_DATA_BYTES) throw new RangeError(`WAV data of ${dataBytes} bytes exceeds 4 GiB`);
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(HEADER_BYTES - 8 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

export interface ParsedWav {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  format: number;
  /** The samples. A streamed WAV's placeholder data size is ignored: the data runs to the end. */
  data: Buffer;
  /** The size the header declares for the data chunk. */
  declaredDataBytes: number;
}

/** Parse a RIFF/WAVE buffer, walking its chunks to `fmt ` and `data`. Throws on anything else. */
export function parseWav(buf: Buffer): ParsedWav {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let off = 12;
  let fmt: Omit<ParsedWav, 'data' | 'declaredDataBytes'> | undefined;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('WAV data chunk before its fmt chunk');
      const end = Math.min(buf.length, body + size);
      return { ...fmt, data: buf.subarray(body, end), declaredDataBytes: size };
    }
    off = body + size + (size % 2);
  }
  throw new Error('WAV file without a data chunk');
}
