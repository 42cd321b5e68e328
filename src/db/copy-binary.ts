/**
 * The rows of `COPY … TO STDOUT WITH (FORMAT binary)`, parsed as the stream's chunks arrive: the
 * 19-byte header (signature, flags, extension length) and its extension, then per row a 16-bit field
 * count and each field as a 32-bit length (-1 for NULL) and its bytes, then the trailer (a field count
 * of -1). Fields are handed over as positions in the chunk they lie in, never copied or decoded here.
 */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER = SIGNATURE.length + 8;

/** A row's fields in `buf`: field i starts at `at[2i]` and is `at[2i + 1]` bytes long (-1: NULL). */
export type RowVisitor = (buf: Buffer, at: Int32Array) => void;

export class BinaryCopyParser {
  /** Bytes of a row cut by a chunk's end, and how many bytes that row needs at least before it can be read. */
  private carry: Buffer[] = [];
  private carried = 0;
  private need = 0;
  private headerDone = false;
  private ended = false;
  private readonly at: Int32Array;

  constructor(private readonly width: number) {
    this.at = new Int32Array(2 * width);
  }

  /** Parses every whole row of what has arrived so far; a row cut by the chunk's end waits for the next. */
  push(chunk: Buffer, visit: RowVisitor): void {
    if (this.ended) throw new Error('binary COPY: data after the trailer');
    if (this.carried + chunk.length < this.need) {
      // A long field: gathered, and joined once it is all here.
      this.carry.push(chunk);
      this.carried += chunk.length;
      return;
    }
    const buf = this.carried === 0 ? chunk : Buffer.concat([...this.carry, chunk]);
    this.carry = [];
    this.carried = 0;
    this.need = 0;
    let p = 0;
    if (!this.headerDone) {
      if (buf.length < HEADER) {
        this.keep(buf, 0, HEADER);
        return;
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE))
        throw new Error('binary COPY: not a binary COPY stream');
      const extension = buf.readUInt32BE(SIGNATURE.length + 4);
      if (buf.length < HEADER + extension) {
        this.keep(buf, 0, HEADER + extension);
        return;
      }
      p = HEADER + extension;
      this.headerDone = true;
    }
    const { at, width } = this;
    let need = 2;
    rows: while (p + 2 <= buf.length) {
      const fields = buf.readInt16BE(p);
      if (fields === -1) {
        this.ended = true;
        p += 2;
        if (p !== buf.length) throw new Error('binary COPY: data after the trailer');
        break;
      }
      if (fields !== width) throw new Error(`binary COPY: a row of ${fields} fields, expected ${width}`);
      let q = p + 2;
      for (let i = 0; i < width; i++) {
        if (q + 4 > buf.length) {
          need = q + 4 - p;
          break rows;
        }
        const len = buf.readInt32BE(q);
        q += 4;
        at[2 * i] = q;
        at[2 * i + 1] = len;
        if (len > 0) q += len;
        if (q > buf.length) {
          need = q - p;
          break rows;
        }
      }
      visit(buf, at);
      p = q;
      need = 2;
    }
    if (p < buf.length) this.keep(buf, p, need);
  }

  /** Keeps `buf` from `p` for the next chunk (copied, so the chunk itself can be collected). */
  private keep(buf: Buffer, p: number, need: number): void {
    this.carry = [Buffer.from(buf.subarray(p))];
    this.carried = buf.length - p;
    this.need = need;
  }

  /** Throws unless the stream ended with its trailer. */
  end(): void {
    if (!this.ended) throw new Error('binary COPY: the stream ended without its trailer');
  }
}
