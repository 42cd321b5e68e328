/** OrderedDigest: the whole file's SHA-256 from parts that lanes read side by side and finish out of order. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OrderedDigest } from '../../src/activities/export/ordered-digest.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Parts of random sizes, each split into random slabs of up to `maxSlab` bytes. */
function makeParts(count: number, maxSlab = 50): Buffer[][] {
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + Math.floor(Math.random() * 4) }, () =>
      randomBytes(Math.floor(Math.random() * maxSlab)),
    ),
  );
}

/** Feeds the parts as `lanes` lanes would, interleaving their slabs at random; returns the digest. */
function feed(digest: OrderedDigest, parts: Buffer[][], lanes: number): void {
  let nextPart = 0;
  const running: { index: number; slab: number }[] = [];
  while (nextPart < parts.length || running.length > 0) {
    while (running.length < lanes && nextPart < parts.length) running.push({ index: nextPart++, slab: 0 });
    const lane = running[Math.floor(Math.random() * running.length)]!;
    const slabs = parts[lane.index]!;
    if (lane.slab < slabs.length) digest.add(lane.index, slabs[lane.slab++]!);
    else {
      digest.finish(lane.index);
      running.splice(running.indexOf(lane), 1);
    }
  }
}

describe('OrderedDigest', () => {
  it('gives the digest of prefix, parts in order and suffix, however the lanes interleave', () => {
    for (let round = 0; round < 200; round++) {
      const parts = makeParts(1 + Math.floor(Math.random() * 8));
      const prefix = randomBytes(Math.floor(Math.random() * 10));
      const suffix = randomBytes(Math.floor(Math.random() * 10));
      const digest = new OrderedDigest(prefix);
      feed(digest, parts, 1 + Math.floor(Math.random() * 3));
      const file = Buffer.concat([prefix, ...parts.flat(), suffix]);
      expect(digest.result(parts.length, suffix)).toEqual({ bytes: file.length, sha256: sha256(file) });
    }
  });

  it('holds parts of many slabs of its own, filled again part after part, without mixing them up', () => {
    for (let round = 0; round < 20; round++) {
      // Up to 1.2 MB a part: several of the digest's own 256 KB slabs, which later parts reuse.
      const parts = makeParts(2 + Math.floor(Math.random() * 6), 300_000);
      const digest = new OrderedDigest(Buffer.from('h\n'));
      feed(digest, parts, 2 + Math.floor(Math.random() * 2));
      const file = Buffer.concat([Buffer.from('h\n'), ...parts.flat()]);
      expect(digest.result(parts.length, Buffer.alloc(0))).toEqual({
        bytes: file.length,
        sha256: sha256(file),
      });
    }
  });

  it('knows nothing while a part is missing', () => {
    const digest = new OrderedDigest(Buffer.from('h'));
    digest.add(1, Buffer.from('b'));
    digest.finish(1);
    expect(digest.result(2, Buffer.alloc(0))).toBeUndefined();
  });

  it('gives up, leaving the hashing to the publish, when lanes ahead hold more than the limit', () => {
    const digest = new OrderedDigest(Buffer.alloc(0), 10);
    digest.add(0, Buffer.from('a'));
    digest.add(1, Buffer.alloc(11));
    digest.finish(1);
    digest.finish(0);
    expect(digest.result(2, Buffer.alloc(0))).toBeUndefined();
    // Within the limit, held bytes are let go as their turn comes.
    const within = new OrderedDigest(Buffer.alloc(0), 10);
    for (let i = 0; i < 5; i++) {
      within.add(i + 1, Buffer.alloc(8));
      within.add(i, Buffer.alloc(1));
      within.finish(i);
    }
    within.finish(5);
    expect(within.result(6, Buffer.alloc(0))?.bytes).toBe(45);
  });
});
