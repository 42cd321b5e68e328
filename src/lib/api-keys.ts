/**
 * API key format and hashing. A key is `ofk_<prefix>_<secret>`: the prefix finds the row, the secret
 * is only ever stored as a SHA-256 hash and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface GeneratedKey {
  key: string;
  prefix: string;
  secretHash: string;
}

const KEY_RE = /^ofk_([a-z0-9]{12})_([A-Za-z0-9_-]{32})$/;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function generateApiKey(): GeneratedKey {
  const prefix = randomBytes(9)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12);
  const secret = randomBytes(24).toString('base64url');
  return { key: `ofk_${prefix}_${secret}`, prefix, secretHash: hashSecret(secret) };
}

/** Split a presented key into prefix and secret, or undefined when it is not shaped like a key. */
export function parseApiKey(key: string): { prefix: string; secret: string } | undefined {
  const m = KEY_RE.exec(key);
  return m ? { prefix: m[1]!, secret: m[2]! } : undefined;
}

export function secretMatches(secret: string, expectedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(expectedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
