/** StreamGuard: the per-key cap of open streams, and the key check that closes a revoked key's streams. */
import { describe, expect, it } from 'vitest';
import { StreamGuard } from '../../src/server/http/stream-guard.js';

function guard(liveKeys: (ids: string[]) => Promise<Set<string>>, maxPerKey = 2) {
  // A check interval far beyond the test: rounds run only when the test calls check().
  return new StreamGuard({ maxPerKey, checkEveryMs: 3_600_000, liveKeys });
}

describe('StreamGuard', () => {
  it('holds at most maxPerKey streams per key, and a released slot is free again', () => {
    const g = guard(() => Promise.resolve(new Set()));
    const a1 = g.open('a', () => {});
    const a2 = g.open('a', () => {});
    expect(a1 && a2).toBeTruthy();
    expect(g.open('a', () => {})).toBeUndefined();
    expect(g.open('b', () => {})).toBeDefined();
    a1!.release();
    a1!.release(); // idempotent: frees one slot, not two
    expect(g.openFor('a')).toBe(1);
    expect(g.open('a', () => {})).toBeDefined();
    expect(g.open('a', () => {})).toBeUndefined();
    g.stop();
  });

  it('asks for every open key in one call and tells the streams of the dead ones, once', async () => {
    const asked: string[][] = [];
    const g = guard((ids) => {
      asked.push([...ids].sort());
      return Promise.resolve(new Set(['live']));
    });
    const told: string[] = [];
    g.open('live', () => told.push('live'));
    g.open('gone', () => told.push('gone-1'));
    g.open('gone', () => told.push('gone-2'));
    await g.check();
    expect(asked).toEqual([['gone', 'live']]);
    expect(told.sort()).toEqual(['gone-1', 'gone-2']);
    expect(g.openFor('gone')).toBe(0);
    await g.check();
    expect(told).toHaveLength(2);
    expect(asked.at(-1)).toEqual(['live']);
    g.stop();
  });

  it('closes nothing when the check itself fails', async () => {
    const g = guard(() => Promise.reject(new Error('database down')));
    let told = false;
    g.open('a', () => (told = true));
    await expect(g.check()).rejects.toThrow('database down');
    expect(told).toBe(false);
    expect(g.openFor('a')).toBe(1);
    g.stop();
  });
});
