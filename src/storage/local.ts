/**
 * Storage in a local (or shared network) directory. Atomic by writing to a temporary name and renaming.
 * An object written from a stream (`writeObject`) is a file. A published object is a directory made like
 * an S3 multipart upload's object: hard links to the parts (the same bytes, never copied: a published
 * export takes no more disk than its parts), the prefix and suffix, and `manifest.json` with the order,
 * the sizes and the SHA-256 of the whole; `stat` and `read` (ranges included) see one object.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digesting } from './assemble.js';
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

/** The manifest of a published object (a directory): its files in order and what they make. */
interface Manifest {
  version: 1;
  bytes: number;
  sha256: string;
  files: { name: string; bytes: number }[];
}
const MANIFEST = 'manifest.json';

/** Hard-links `from` as `to` (the same inode: no bytes copied), or copies it where links cannot be made. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK') throw err;
    await fs.copyFile(from, to);
  }
}

/** Feeds the bytes of `file` to `hash` (read in large blocks, no stream); resolves with its size. */
async function hashFile(file: string, hash: ReturnType<typeof createHash>, block: Buffer): Promise<number> {
  const handle = await fs.open(file, 'r');
  try {
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(block, 0, block.length, null);
      if (bytesRead === 0) return bytes;
      hash.update(block.subarray(0, bytesRead));
      bytes += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/** A temporary name beside `target`, the shape `removeStaleTemporaries` looks for. */
function tmpName(target: string): string {
  return `${target}.tmp-${randomBytes(6).toString('hex')}`;
}

/**
 * Moves `tmp` to `target`, replacing a file or directory already there (an earlier publish of the key:
 * a retried attempt of a job that has not succeeded yet, so nobody reads it in the moment between the
 * two renames when the key holds nothing).
 */
async function replaceWith(tmp: string, target: string): Promise<void> {
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EISDIR' && code !== 'ENOTDIR') throw err;
    const old = tmpName(target);
    await fs.rename(target, old);
    await fs.rename(tmp, target);
    await fs.rm(old, { recursive: true, force: true });
  }
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
        .map((n) => fs.rm(path.join(path.dirname(target), n), { recursive: true, force: true })),
    );
  }

  async writePart(jobId: string, index: number, body: Readable): Promise<{ bytes: number }> {
    const target = this.partPath(jobId, index);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = tmpName(target);
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
    known?: PublishResult,
  ): Promise<PublishResult> {
    const target = this.objectPath(key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = tmpName(target);
    // Hashed here unless the caller hashed the bytes as it wrote them.
    const hash = createHash('sha256');
    const block = Buffer.allocUnsafe(known ? 0 : 1024 * 1024);
    const files: Manifest['files'] = [];
    let bytes = 0;
    const inline = async (name: string, content: Buffer | undefined) => {
      if (!content || content.length === 0) return;
      await fs.writeFile(path.join(tmp, name), content);
      if (!known) hash.update(content);
      files.push({ name, bytes: content.length });
      bytes += content.length;
    };
    try {
      await fs.mkdir(tmp);
      await inline('prefix', prefix);
      for (let i = 0; i < partCount; i++) {
        const name = path.basename(this.partPath(jobId, i));
        await linkOrCopy(this.partPath(jobId, i), path.join(tmp, name));
        // Hashed from the link: the bytes published are the bytes hashed, whatever replaces the part later.
        const size = known
          ? (await fs.stat(path.join(tmp, name))).size
          : await hashFile(path.join(tmp, name), hash, block);
        files.push({ name, bytes: size });
        bytes += size;
      }
      await inline('suffix', suffix);
      if (known && known.bytes !== bytes)
        throw new Error(
          `${key}: the parts hold ${bytes} bytes, not the ${known.bytes} hashed as they were written`,
        );
      const manifest: Manifest = {
        version: 1,
        bytes,
        sha256: known ? known.sha256 : hash.digest('hex'),
        files,
      };
      await fs.writeFile(path.join(tmp, MANIFEST), JSON.stringify(manifest));
      await replaceWith(tmp, target);
      await LocalStorage.removeStaleTemporaries(target);
      return { bytes, sha256: manifest.sha256 };
    } catch (err) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** The manifest of a published object, or undefined for an object that is a plain file. */
  private static async manifestOf(target: string): Promise<Manifest | undefined> {
    let text: string;
    try {
      text = await fs.readFile(path.join(target, MANIFEST), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') return undefined;
      throw err;
    }
    const manifest = JSON.parse(text) as Manifest;
    if (manifest.version !== 1)
      throw new Error(`${target}: unknown manifest version ${String(manifest.version)}`);
    return manifest;
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
    const tmp = tmpName(target);
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
    const target = this.objectPath(key);
    try {
      const s = await fs.stat(target);
      if (!s.isDirectory()) return { size: s.size, modifiedAt: s.mtime };
      const manifest = await LocalStorage.manifestOf(target);
      return { size: manifest?.bytes ?? 0, modifiedAt: s.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    const target = this.objectPath(key);
    return Readable.from(LocalStorage.bytesOf(target, range), { objectMode: false });
  }

  /** The bytes of an object, a file or a published one (its files in order), optionally a range. */
  private static async *bytesOf(
    target: string,
    range?: { start: number; end: number },
  ): AsyncGenerator<Buffer> {
    const manifest = await LocalStorage.manifestOf(target);
    if (!manifest) {
      yield* createReadStream(target, range) as AsyncIterable<Buffer>;
      return;
    }
    const start = range?.start ?? 0;
    const end = range ? range.end : manifest.bytes - 1;
    let at = 0;
    for (const file of manifest.files) {
      const from = Math.max(start - at, 0);
      const to = Math.min(end - at, file.bytes - 1);
      if (from <= to) {
        yield* createReadStream(path.join(target, file.name), {
          start: from,
          end: to,
          highWaterMark: 256 * 1024,
        }) as AsyncIterable<Buffer>;
      }
      at += file.bytes;
      if (at > end) return;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.objectPath(key), { recursive: true, force: true });
  }
}
