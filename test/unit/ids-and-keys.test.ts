/** Ids (ULID layout, time ordered) and API keys (format, parsing, constant-time secret check). */
import { describe, expect, it } from 'vitest';
import { generateApiKey, hashSecret, parseApiKey, secretMatches } from '../../src/lib/api-keys.js';
import { isJobId, newJobId, newUserId, timeOfId, ulid } from '../../src/lib/ids.js';

const CROCKFORD = /^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{26}$/;

describe('ulid', () => {
  it('is 26 Crockford base32 characters', () => {
    for (let i = 0; i < 100; i++) expect(ulid()).toMatch(CROCKFORD);
  });

  it('encodes the time in the first 10 characters (known value)', () => {
    // 1_700_000_000_000 ms = 0x18BCFE56800 → base32 "01HF7YAT00".
    const id = ulid(1_700_000_000_000);
    expect(id.slice(0, 10)).toBe('01HF7YAT00');
    expect(ulid(0).slice(0, 10)).toBe('0000000000');
  });

  it('sorts lexicographically by creation time', () => {
    const times = [
      0,
      1,
      31,
      32,
      1_000,
      1_699_999_999_999,
      1_700_000_000_000,
      1_700_000_000_001,
      2 ** 47,
      2 ** 48 - 1,
    ];
    const ids = times.map((t) => ulid(t));
    const shuffled = [...ids].reverse();
    expect(shuffled.sort()).toEqual(ids);
  });

  it('timeOfId round-trips the time for ulids, job ids and user ids', () => {
    for (const t of [0, 1, 1_234_567_890_123, Date.now(), 2 ** 48 - 1]) {
      expect(timeOfId(ulid(t))).toBe(t);
      expect(timeOfId(newJobId(t))).toBe(t);
    }
    const before = Date.now();
    const user = newUserId();
    const after = Date.now();
    expect(user).toMatch(/^usr_[0-9a-z]{26}$/);
    expect(timeOfId(user)).toBeGreaterThanOrEqual(before);
    expect(timeOfId(user)).toBeLessThanOrEqual(after);
  });

  it('gives 10k distinct ids within the same millisecond', () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 10_000 }, () => ulid(now)));
    expect(ids.size).toBe(10_000);
    // Same time prefix, so all the uniqueness comes from the 80 random bits.
    expect(new Set([...ids].map((id) => id.slice(0, 10))).size).toBe(1);
  });

  it('newJobId ids are distinct and recognised by isJobId', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newJobId()));
    expect(ids.size).toBe(10_000);
    for (const id of ids) expect(isJobId(id)).toBe(true);
  });
});

describe('isJobId', () => {
  const valid = newJobId(1_700_000_000_000);

  it('accepts a job id', () => {
    expect(valid).toMatch(/^job_[0-9a-z]{26}$/);
    expect(isJobId(valid)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['no prefix', valid.slice(4)],
    ['user prefix', `usr_${valid.slice(4)}`],
    ['upper case', `job_${valid.slice(4).toUpperCase()}`],
    ['too short', valid.slice(0, -1)],
    ['too long', `${valid}0`],
    ['excluded letter i', `${valid.slice(0, -1)}i`],
    ['excluded letter l', `${valid.slice(0, -1)}l`],
    ['excluded letter o', `${valid.slice(0, -1)}o`],
    ['excluded letter u', `${valid.slice(0, -1)}u`],
    ['trailing newline', `${valid}\n`],
    ['path traversal', 'job_../../../../etc/passwd'],
    ['route word', 'not-a-job-id'],
  ])('rejects %s', (_label, id) => {
    expect(isJobId(id)).toBe(false);
  });
});

describe('API keys', () => {
  it('generates ofk_<12 prefix>_<32 secret> keys storing only a SHA-256 of the secret', () => {
    const g = generateApiKey();
    expect(g.key).toMatch(/^ofk_[a-z0-9]{12}_[A-Za-z0-9_-]{32}$/);
    expect(g.prefix).toMatch(/^[a-z0-9]{12}$/);
    const parsed = parseApiKey(g.key);
    expect(parsed).toBeDefined();
    expect(parsed!.prefix).toBe(g.prefix);
    expect(`ofk_${parsed!.prefix}_${parsed!.secret}`).toBe(g.key);
    expect(g.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(g.secretHash).toBe(hashSecret(parsed!.secret));
    expect(g.key).not.toContain(g.secretHash);
    expect(secretMatches(parsed!.secret, g.secretHash)).toBe(true);
  });

  it('generates distinct keys and prefixes', () => {
    const keys = Array.from({ length: 1000 }, () => generateApiKey());
    expect(new Set(keys.map((k) => k.key)).size).toBe(1000);
    expect(new Set(keys.map((k) => k.prefix)).size).toBe(1000);
    expect(new Set(keys.map((k) => k.secretHash)).size).toBe(1000);
  });

  it('a tampered secret does not match', () => {
    const g = generateApiKey();
    const { secret } = parseApiKey(g.key)!;
    const last = secret.at(-1)!;
    const tampered = secret.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    expect(parseApiKey(`ofk_${g.prefix}_${tampered}`)).toBeDefined();
    expect(secretMatches(tampered, g.secretHash)).toBe(false);
    expect(
      secretMatches(
        secret.toUpperCase() === secret ? secret.toLowerCase() : secret.toUpperCase(),
        g.secretHash,
      ),
    ).toBe(false);
    // Another key's secret does not match either.
    expect(secretMatches(parseApiKey(generateApiKey().key)!.secret, g.secretHash)).toBe(false);
  });

  it('a malformed stored hash never matches (and does not throw)', () => {
    const g = generateApiKey();
    const { secret } = parseApiKey(g.key)!;
    expect(secretMatches(secret, '')).toBe(false);
    expect(secretMatches(secret, g.secretHash.slice(0, 62))).toBe(false);
    expect(secretMatches(secret, 'not-hex')).toBe(false);
  });

  describe('parseApiKey rejects malformed keys', () => {
    const g = generateApiKey();
    const { prefix, secret } = parseApiKey(g.key)!;
    it.each([
      ['empty', ''],
      ['no scheme', `${prefix}_${secret}`],
      ['wrong scheme', `sk_${prefix}_${secret}`],
      ['upper-case prefix', `ofk_${prefix.toUpperCase().replace(/[0-9]/g, 'A')}_${secret}`],
      ['short prefix', `ofk_${prefix.slice(1)}_${secret}`],
      ['short secret', `ofk_${prefix}_${secret.slice(1)}`],
      ['long secret', `ofk_${prefix}_${secret}x`],
      ['bad character in secret', `ofk_${prefix}_${secret.slice(1)}+`],
      ['whitespace', ` ${g.key}`],
      ['trailing newline', `${g.key}\n`],
      ['Bearer included', `Bearer ${g.key}`],
    ])('%s', (_label, key) => {
      expect(parseApiKey(key)).toBeUndefined();
    });
  });
});
