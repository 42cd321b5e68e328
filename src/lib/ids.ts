/** Time-sortable, unguessable ids: 48 bits of milliseconds then 80 random bits, Crockford base32 (ULID layout). */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Buffer): string {
  // 80 bits -> 16 base32 characters.
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = ALPHABET[Number(bits & 31n)]! + out;
    bits >>= 5n;
  }
  return out;
}

/** A new 26-character id, lexicographically ordered by creation time. */
export function ulid(now: number = Date.now()): string {
  return encodeTime(now) + encodeRandom(randomBytes(10));
}

export function newJobId(now?: number): string {
  return `job_${ulid(now).toLowerCase()}`;
}

export function newUserId(): string {
  return `usr_${ulid().toLowerCase()}`;
}

/** Milliseconds since the epoch encoded in an id made by ulid(). */
export function timeOfId(id: string): number {
  const body = id.includes('_') ? id.slice(id.indexOf('_') + 1) : id;
  let ms = 0;
  for (const ch of body.slice(0, 10).toUpperCase()) ms = ms * 32 + ALPHABET.indexOf(ch);
  return ms;
}

const JOB_ID = /^job_[0-9a-hjkmnp-tv-z]{26}$/;
export function isJobId(s: string): boolean {
  return JOB_ID.test(s);
}
