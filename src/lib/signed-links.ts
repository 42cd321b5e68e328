/**
 * Signed download links: `/files/<jobId>?expires=<unix seconds>&signature=<HMAC>`. They work without an
 * API key, for e-mail and webhook recipients; a changed job id or expiry breaks the signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The name of the shared secret (app_secrets) that signs download links. */
export const DOWNLOAD_SECRET = 'download-links';

function mac(secret: string, jobId: string, expires: number): string {
  return createHmac('sha256', secret).update(`download\n${jobId}\n${expires}`).digest('base64url');
}

export function signedDownloadPath(secret: string, jobId: string, expires: number): string {
  return `/files/${jobId}?expires=${expires}&signature=${mac(secret, jobId, expires)}`;
}

export type LinkCheck = 'ok' | 'expired' | 'invalid';

export function checkDownloadSignature(
  secret: string,
  jobId: string,
  expires: string | undefined,
  signature: string | undefined,
  nowSeconds = Math.floor(Date.now() / 1000),
): LinkCheck {
  if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return 'invalid';
  const expected = Buffer.from(mac(secret, jobId, Number(expires)));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  return Number(expires) < nowSeconds ? 'expired' : 'ok';
}
