/** Storage in a local (or shared network) directory. Atomic by writing to a temporary name and renaming. */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digesting, joinedParts } from './assemble.js';
import { byteLength, coalesce } from './coalesce.js';
import type { ObjectInfo, PublishResult, Storage } from './storage.js';

/** Writes every byte of `buffers` at the file's position (one writev, more only after a short write). */
async function writeAll(file: fs.FileHandle, buffers: Buffer[]): Promise<number> {
  const total = byteLength(buffers);
  const { bytesWritten } = await file.writev(buffers);
  if (bytesWritten < total) {
    const rest = Buffer.concat(buffers).subarray(bytesWritten);
    for (let off = 0; off < rest.length;) off += (await file.write(rest, off)).bytesWritten;
  }
  return total;
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

function checkKey(key: string): void {
  const segments = key.split('/');
  if (segments.some((s) => !SAFE_SEGMENT.test(s) || s === '.' || s === '..')) {
    throw new Error(`invalid storage key: ${key}`);
  }
}

export class LocalStorage implements Storage {
  constructor(private readonly root: string) {}

  private objectPath(key: string): string {
    checkKey(key);
    return path.join(this.root, 'objects', key);
  }

  private partsDir(jobId: string): string {
    checkKey(jobId);
    return path.join(this.root, 'parts', jobId);
  }

  private partPath(jobId: string, index: number): string {
    return path.join(this.partsDir(jobId), `${String(index).padStart(6, '0')}.part`);
  }

  private static tmpName(target: string): string {
    return `${target}.tmp-${randomBytes(6).toString('hex')}`;
  }

  /**
   * Temporaries of `target` left by attempts that died mid-write (a SIGKILLed worker cannot clean up);
   * removed once the object is in place, so a file is never stored twice.
   */
  private static async removeStaleTemporaries(target: string): Promise<void> {
    const prefix = `${path.basename(target)}.tmp-`;
    const names = await fs.readdir(path.dirname(target)).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.startsWith(prefix))
        .map((n) => fs.rm(path.join(path.dirname(target), n), { force: true })),
    );
  }

  async writePart(jobId: string, index: number, body: Readable): Promise<{ bytes: number }> {
    const target = this.partPath(jobId, index);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = LocalStorage.tmpName(target);
    const file = await fs.open(tmp, 'w');
    let bytes = 0;
    try {
      for await (const batch of coalesce(body)) bytes += await writeAll(file, batch);
      await file.close();
      await fs.rename(tmp, target);
    } catch (err) {
      await file.close().catch(() => {});
      await fs.rm(tmp, { force: true });
      throw err;
    }
    return { bytes };
  }

  async publish(
    jobId: string,
    key: string,
    partCount: number,
    prefix?: Buffer,
    suffix?: Buffer,
  ): Promise<PublishResult> {
    const target = this.objectPath(key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = LocalStorage.tmpName(target);
    const digest = digesting();
    const parts = joinedParts(
      partCount,
      (i) => createReadStream(this.partPath(jobId, i), { highWaterMark: 1024 * 1024 }),
      prefix,
      suffix,
    );
    try {
      await pipeline(
        Readable.from(parts),
        digest.through,
        createWriteStream(tmp, { highWaterMark: 1024 * 1024 }),
      );
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await LocalStorage.removeStaleTemporaries(target);
    return digest.result();
  }

  async listParts(jobId: string): Promise<{ index: number; bytes: number }[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.partsDir(jobId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parts: { index: number; bytes: number }[] = [];
    for (const name of names) {
      const m = /^(\d{6,})\.part$/.exec(name);
      if (!m) continue; // temporaries of writes that never finished
      const index = Number(m[1]);
      parts.push({ index, bytes: (await fs.stat(this.partPath(jobId, index))).size });
    }
    return parts.sort((a, b) => a.index - b.index);
  }

  readPart(jobId: string, index: number): Readable {
    return createReadStream(this.partPath(jobId, index));
  }

  async writeObject(key: string, body: Readable): Promise<PublishResult> {
    const target = this.objectPath(key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = LocalStorage.tmpName(target);
    const digest = digesting();
    try {
      await pipeline(body, digest.through, createWriteStream(tmp));
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await LocalStorage.removeStaleTemporaries(target);
    return digest.result();
  }

  async deleteParts(jobId: string): Promise<void> {
    await fs.rm(this.partsDir(jobId), { recursive: true, force: true });
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await fs.stat(this.objectPath(key));
      return { size: s.size, modifiedAt: s.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.objectPath(key), range);
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.objectPath(key), { force: true });
  }
}
