/** Optional notification fields any job-creating body accepts, and how they are stored on the job. */
import { z } from '@hono/zod-openapi';
import type { JobNotify } from '../../shared/jobs.js';
import { EMAIL_PATTERN } from '../../shared/patterns.js';
import { safe } from '../http/safe-text.js';

export const notifyFields = {
  callbackUrl: safe(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).max(2000))
    .optional()
    .openapi({
      description:
        'Webhook for the end of the job (Standard Webhooks signature); overrides the default in /v1/settings/notifications',
    }),
  // The pattern alone (no `format: email`, whose RFC 5322 takes more than this and less than it).
  notifyEmail: z
    .string()
    .max(254)
    .regex(EMAIL_PATTERN, 'must be an e-mail address')
    .optional()
    .openapi({ description: 'Send an e-mail with the download link when the job ends' }),
};

/** Split the notification fields off a validated body: what to store as the job's request, and its notify. */
export function splitNotify<T extends { callbackUrl?: string; notifyEmail?: string }>(
  body: T,
): { request: Omit<T, 'callbackUrl' | 'notifyEmail'>; notify: JobNotify | null } {
  const { callbackUrl, notifyEmail, ...request } = body;
  const notify: JobNotify = {
    ...(callbackUrl ? { callbackUrl } : {}),
    ...(notifyEmail ? { email: notifyEmail } : {}),
  };
  return { request, notify: Object.keys(notify).length > 0 ? notify : null };
}
