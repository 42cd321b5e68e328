/** The local storage driver: whole parts, atomic publish, and no file left twice after a killed attempt. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalStorage } from '../../src/storage/local.js';

let dir: string;
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
    expect(await fs.readFile(path.join(objectDir, 'out.csv'), 'utf8')).toBe('h\none\ntwo\nend');
    expect((await fs.readdir(objectDir)).sort()).toEqual(['other.csv', 'out.csv']);
    expect(await storage.listParts('job_a')).toEqual([
      { index: 0, bytes: 4 },
      { index: 1, bytes: 4 },
    ]);
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
