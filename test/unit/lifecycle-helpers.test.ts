/** Pure helpers of the lifecycle: the SSRF address classifier, Range parsing, signatures and cursors. */
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/db/jobs-list.js';
import { newJobId } from '../../src/lib/ids.js';
import { checkLiteralHost, isPrivateAddress } from '../../src/lib/net-guard.js';
import { checkDownloadSignature, signedDownloadPath } from '../../src/lib/signed-links.js';
import { signWebhook, verifyWebhook } from '../../src/lib/webhook-signature.js';
import { requestHash } from '../../src/server/jobs/idempotency.js';
import { parseRange } from '../../src/server/http/range.js';

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '64:ff9b::a00:1',
    'not an ip',
  ])('refuses %s', (ip) => expect(isPrivateAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows %s',
    (ip) => expect(isPrivateAddress(ip)).toBe(false),
  );

  it('checks IP-literal hosts against the allow settings', () => {
    expect(() => checkLiteralHost({ allowPrivate: false, allowHosts: [] }, '[::1]')).toThrow(/refused/);
    expect(() => checkLiteralHost({ allowPrivate: false, allowHosts: ['::1'] }, '[::1]')).not.toThrow();
    expect(() => checkLiteralHost({ allowPrivate: true, allowHosts: [] }, '10.0.0.1')).not.toThrow();
    expect(() => checkLiteralHost({ allowPrivate: false, allowHosts: [] }, 'example.com')).not.toThrow();
  });
});

describe('parseRange', () => {
  it.each([
    [undefined, { kind: 'none' }],
    ['bytes=0-9', { kind: 'range', start: 0, end: 9 }],
    ['bytes=90-', { kind: 'range', start: 90, end: 99 }],
    ['bytes=-10', { kind: 'range', start: 90, end: 99 }],
    ['bytes=-1000', { kind: 'range', start: 0, end: 99 }],
    ['bytes=50-5000', { kind: 'range', start: 50, end: 99 }],
    ['bytes=100-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=9-1', { kind: 'none' }],
    ['bytes=0-1,5-6', { kind: 'none' }],
    ['items=0-1', { kind: 'none' }],
    ['bytes=-', { kind: 'none' }],
  ])('%s of 100 bytes', (header, expected) => expect(parseRange(header, 100)).toEqual(expected));
});

describe('signatures', () => {
  it('signs download links that fail when changed or expired', () => {
    const id = newJobId();
    const now = 1_800_000_000;
    const url = new URL(`http://x${signedDownloadPath('secret', id, now + 60)}`);
    const exp = url.searchParams.get('expires')!;
    const sig = url.searchParams.get('signature')!;
    expect(checkDownloadSignature('secret', id, exp, sig, now)).toBe('ok');
    expect(checkDownloadSignature('secret', id, exp, sig, now + 61)).toBe('expired');
    expect(checkDownloadSignature('other', id, exp, sig, now)).toBe('invalid');
    expect(checkDownloadSignature('secret', newJobId(), exp, sig, now)).toBe('invalid');
    expect(checkDownloadSignature('secret', id, String(now + 6000), sig, now)).toBe('invalid');
    expect(checkDownloadSignature('secret', id, undefined, sig, now)).toBe('invalid');
  });

  it('matches the Standard Webhooks reference vector', () => {
    // From the Standard Webhooks specification's test suite.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    expect(signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body)).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
    expect(
      verifyWebhook(
        secret,
        {
          id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
          timestamp: '1614265330',
          signature: 'v1,bad v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
        },
        body,
        300,
        1614265330,
      ),
    ).toBe(true);
  });
});

describe('cursors and request hashes', () => {
  it('round-trips cursors and rejects foreign ones', () => {
    const id = newJobId();
    expect(decodeCursor(encodeCursor(id))).toBe(id);
    expect(decodeCursor('xyz')).toBeUndefined();
    expect(decodeCursor('job_../../etc')).toBeUndefined();
  });

  it('hashes bodies independently of key order', () => {
    expect(requestHash({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(
      requestHash({ b: { d: 'x', c: [1, 2] }, a: 1 }),
    );
    expect(requestHash({ a: 1 })).not.toBe(requestHash({ a: 2 }));
  });
});
