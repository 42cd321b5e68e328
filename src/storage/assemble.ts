/**
 * What both storage drivers do on the way to a stored object: join a job's parts between a prefix and a
 * suffix, and count and hash (SHA-256) the bytes as they are written.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import type { PublishResult } from './storage.js';

/** A pass-through that counts and hashes what flows through it; `result()` once it has ended. */
export function digesting(): { through: Transform; result(): PublishResult } {
  const hash = createHash('sha256');
  let bytes = 0;
  const through = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { through, result: () => ({ bytes, sha256: hash.digest('hex') }) };
}

/** The bytes of a published object: `prefix`, parts 0..count-1 in order (each opened when reached), `suffix`. */
export async function* joinedParts(
  count: number,
  openPart: (index: number) => Readable,
  prefix?: Buffer,
  suffix?: Buffer,
): AsyncGenerator<Buffer> {
  if (prefix && prefix.length > 0) yield prefix;
  for (let i = 0; i < count; i++) {
    for await (const chunk of openPart(i)) yield chunk as Buffer;
  }
  if (suffix && suffix.length > 0) yield suffix;
}
