/** The local storage driver: whole parts, atomic publish, and no file left twice after a killed attempt. */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local.js';

let dir: string;

async function text(stream: Readable): Promise<string> {
  return Buffer.concat(await stream.toArray()).toString('utf8');
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
let storage: LocalStorage;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-local-storage-'));
  storage = new LocalStorage(dir);
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('LocalStorage', () => {
  it('publishes prefix, parts and suffix as one object and removes what a killed attempt left', async () => {
    await storage.writePart('job_a', 0, Readable.from([Buffer.from('one\n')]));
    await storage.writePart('job_a', 1, Readable.from([Buffer.from('two\n')]));
    // A worker SIGKILLed mid-publish leaves its temporary next to where the object goes.
    const objectDir = path.join(dir, 'objects', 'job_a');
    await fs.mkdir(objectDir, { recursive: true });
    await fs.writeFile(path.join(objectDir, 'out.csv.tmp-deadbeef0000'), 'partial');
    await fs.writeFile(path.join(objectDir, 'other.csv'), 'another object stays');

    const published = await storage.publish(
      'job_a',
      'job_a/out.csv',
      2,
      Buffer.from('h\n'),
      Buffer.from('end'),
    );

    expect(published.bytes).toBe('h\none\ntwo\nend'.length);
    expect(await text(storage.read('job_a/out.csv'))).toBe('h\none\ntwo\nend');
    expect((await storage.stat('job_a/out.csv'))?.size).toBe(published.bytes);
    expect((await fs.readdir(objectDir)).sort()).toEqual(['other.csv', 'out.csv']);
    expect(await storage.listParts('job_a')).toEqual([
      { index: 0, bytes: 4 },
      { index: 1, bytes: 4 },
    ]);
  });

  it('reads every byte range of a published object across its files', async () => {
    const whole = 'h\n' + 'one\n' + '' + 'three\n' + 'end';
    await storage.writePart('job_r', 0, Readable.from([Buffer.from('one\n')]));
    await storage.writePart('job_r', 1, Readable.from([]));
    await storage.writePart('job_r', 2, Readable.from([Buffer.from('three\n')]));
    const published = await storage.publish(
      'job_r',
      'job_r/r.csv',
      3,
      Buffer.from('h\n'),
      Buffer.from('end'),
    );
    expect(published).toEqual({ bytes: whole.length, sha256: sha256(whole) });
    for (let start = 0; start < whole.length; start++)
      for (let end = start; end < whole.length; end++)
        expect(await text(storage.read('job_r/r.csv', { start, end }))).toBe(whole.slice(start, end + 1));
  });

  it('keeps a published object whatever later happens to its parts, and replaces it on a new publish', async () => {
    await storage.writePart('job_p', 0, Readable.from([Buffer.from('first\n')]));
    await storage.publish('job_p', 'job_p/p.csv', 1);
    // A redrive rewrites the part; deleting the parts (retention, cancel) leaves the object whole.
    await storage.writePart('job_p', 0, Readable.from([Buffer.from('second\n')]));
    expect(await text(storage.read('job_p/p.csv'))).toBe('first\n');
    await storage.publish('job_p', 'job_p/p.csv', 1);
    expect(await text(storage.read('job_p/p.csv'))).toBe('second\n');
    // The published object holds the part's bytes themselves (a hard link), not a copy of them.
    const part = await fs.stat(path.join(dir, 'parts', 'job_p', '000000.part'));
    const linked = await fs.stat(path.join(dir, 'objects', 'job_p', 'p.csv', '000000.part'));
    expect([linked.ino, linked.nlink]).toEqual([part.ino, 2]);
    await storage.deleteParts('job_p');
    expect(await text(storage.read('job_p/p.csv'))).toBe('second\n');
    expect(await fs.readdir(path.join(dir, 'objects', 'job_p'))).toEqual(['p.csv']);
    await storage.delete('job_p/p.csv');
    expect(await storage.stat('job_p/p.csv')).toBeUndefined();
    await expect(text(storage.read('job_p/p.csv'))).rejects.toThrow(/ENOENT/);
  });

  it("takes the digest the caller hashed while writing, and refuses one whose size is not the parts'", async () => {
    await storage.writePart('job_k', 0, Readable.from([Buffer.from('abc\n')]));
    const known = { bytes: 'h\nabc\n'.length, sha256: sha256('h\nabc\n') };
    expect(await storage.publish('job_k', 'job_k/k.csv', 1, Buffer.from('h\n'), undefined, known)).toEqual(
      known,
    );
    expect(await storage.stat('job_k/k.csv')).toMatchObject({ size: known.bytes });
    await expect(
      storage.publish('job_k', 'job_k/k2.csv', 1, undefined, undefined, { bytes: 99, sha256: known.sha256 }),
    ).rejects.toThrow(/4 bytes, not the 99/);
    expect(await storage.stat('job_k/k2.csv')).toBeUndefined();
    expect(await fs.readdir(path.join(dir, 'objects', 'job_k'))).toEqual(['k.csv']);
  });

  it('publishes over an object an earlier release stored as a plain file', async () => {
    const objectDir = path.join(dir, 'objects', 'job_o');
    await fs.mkdir(objectDir, { recursive: true });
    await fs.writeFile(path.join(objectDir, 'o.csv'), 'old bytes');
    expect(await text(storage.read('job_o/o.csv'))).toBe('old bytes');
    await storage.writePart('job_o', 0, Readable.from([Buffer.from('new\n')]));
    await storage.publish('job_o', 'job_o/o.csv', 1);
    expect(await text(storage.read('job_o/o.csv'))).toBe('new\n');
    expect(await fs.readdir(objectDir)).toEqual(['o.csv']);
  });

  it('writes an object from a stream atomically, also removing stale temporaries', async () => {
    const objectDir = path.join(dir, 'objects', 'job_b');
    await fs.mkdir(objectDir, { recursive: true });
    await fs.writeFile(path.join(objectDir, 'speech.wav.tmp-0123456789ab'), 'partial');
    const result = await storage.writeObject('job_b/speech.wav', Readable.from([Buffer.from('RIFF')]));
    expect(result.bytes).toBe(4);
    expect(await fs.readdir(objectDir)).toEqual(['speech.wav']);
  });
});
