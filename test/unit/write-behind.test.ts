/** writeBehind: bounded writes in flight, the first failure stops later adds, settle keeps what landed. */
import { describe, expect, it } from 'vitest';
import { writeBehind } from '../../src/activities/heavy/write-behind.js';

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('writeBehind', () => {
  it('starts writes at once up to the limit, and makes the next add wait for room', async () => {
    const w = writeBehind(2);
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    await w.add(async () => (started.push(0), gates[0]!.promise));
    await w.add(async () => (started.push(1), gates[1]!.promise));
    let third = false;
    const adding = w.add(async () => (started.push(2), gates[2]!.promise)).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual([0, 1]);
    expect(third).toBe(false);
    gates[1]!.resolve();
    await adding;
    expect(started).toEqual([0, 1, 2]);
    let drained = false;
    const draining = w.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(false);
    gates[0]!.resolve();
    gates[2]!.resolve();
    await draining;
  });

  it('rejects every add after a failure, drains with it, and settles without it', async () => {
    const w = writeBehind(4);
    const landed: string[] = [];
    const slow = deferred();
    await w.add(async () => {
      await slow.promise;
      landed.push('slow');
    });
    await w.add(() => Promise.reject(new Error('disk full')));
    await new Promise((r) => setTimeout(r, 0));
    await expect(w.add(() => Promise.resolve(landed.push('late')))).rejects.toThrow('disk full');
    const settled = w.settle();
    slow.resolve();
    await settled;
    expect(landed).toEqual(['slow']); // the write in flight finished; the one after the failure never ran
    await expect(w.drain()).rejects.toThrow('disk full');
  });

  it('needs a limit of at least one', () => {
    expect(() => writeBehind(0)).toThrow(RangeError);
  });
});
