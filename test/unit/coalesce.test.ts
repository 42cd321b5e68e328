/** Batching a stream of small chunks (COPY's one chunk per row) into slabs: bytes, order, errors, stops. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { byteLength, coalesce } from '../../src/storage/coalesce.js';

const rows = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`row ${i},"x"\n`));

async function collect(body: Readable, target: number): Promise<Buffer[][]> {
  const out: Buffer[][] = [];
  // Copy each batch: a consumer may only rely on a batch until it asks for the next one.
  for await (const batch of coalesce(body, target)) out.push(batch.map((b) => Buffer.from(b)));
  return out;
}

describe('coalesce', () => {
  it('hands over every byte in order, in batches of at most the target size', async () => {
    const input = rows(5000);
    const batches = await collect(Readable.from(input), 4096);
    expect(Buffer.concat(batches.flat()).equals(Buffer.concat(input))).toBe(true);
    expect(batches.length).toBeGreaterThan(10);
    for (const b of batches) expect(byteLength(b)).toBeLessThanOrEqual(4096);
  });

  it('passes a chunk larger than the target through whole, after what came before it', async () => {
    const big = Buffer.alloc(10_000, 'b');
    const input = [Buffer.from('a,1\n'), big, Buffer.from('c,3\n')];
    const batches = await collect(Readable.from(input), 1024);
    expect(Buffer.concat(batches.flat()).equals(Buffer.concat(input))).toBe(true);
    expect(batches.flat().some((b) => b.equals(big))).toBe(true);
    for (const b of batches)
      if (!b.some((x) => x.equals(big))) expect(byteLength(b)).toBeLessThanOrEqual(1024);
  });

  it('yields nothing for an empty stream', async () => {
    expect(await collect(Readable.from([]), 1024)).toEqual([]);
  });

  it('rethrows the stream error', async () => {
    const body = new Readable({
      read() {
        this.push(Buffer.from('first\n'));
        this.destroy(new Error('connection lost'));
      },
    });
    await expect(collect(body, 1024)).rejects.toThrow('connection lost');
  });

  it('destroys the stream when the consumer stops early', async () => {
    const body = Readable.from(rows(100_000));
    for await (const batch of coalesce(body, 1024)) {
      expect(batch.length).toBeGreaterThan(0);
      break;
    }
    expect(body.destroyed).toBe(true);
  });
});
