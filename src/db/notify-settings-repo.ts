/** A user's notification settings: default webhook URL and the Standard Webhooks signing secret. */
import { and, eq, isNull } from 'drizzle-orm';
import { newWebhookSecret } from '../lib/webhook-signature.js';
import type { Db } from './client.js';
import { users } from './schema.js';

export interface NotifySettings {
  webhookUrl: string | null;
  webhookSecret: string;
}

/** The user's settings, creating the signing secret on first use (concurrent callers agree on one). */
export async function notifySettings(db: Db, userId: string): Promise<NotifySettings | undefined> {
  await db
    .update(users)
    .set({ webhookSecret: newWebhookSecret() })
    .where(and(eq(users.id, userId), isNull(users.webhookSecret)));
  const [row] = await db
    .select({ webhookUrl: users.webhookUrl, webhookSecret: users.webhookSecret })
    .from(users)
    .where(eq(users.id, userId));
  return row ? { webhookUrl: row.webhookUrl, webhookSecret: row.webhookSecret! } : undefined;
}

export async function setDefaultWebhook(db: Db, userId: string, url: string | null): Promise<void> {
  await db.update(users).set({ webhookUrl: url }).where(eq(users.id, userId));
}

export async function rotateWebhookSecret(db: Db, userId: string): Promise<string> {
  const secret = newWebhookSecret();
  await db.update(users).set({ webhookSecret: secret }).where(eq(users.id, userId));
  return secret;
}
