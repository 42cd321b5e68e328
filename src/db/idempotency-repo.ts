/** Idempotency keys: one job per (user, scope, key) for 24 hours, bound to the hash of the request. */
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import type { DbOrTx } from './jobs-repo.js';
import { idempotencyKeys } from './schema.js';

export type IdempotencyRow = typeof idempotencyKeys.$inferSelect;

/**
 * Claim a key for a new job. Returns undefined when this call claimed it, or the existing claim. Two
 * concurrent claims of the same key serialize on the primary key: exactly one inserts. Claimed inside
 * the transaction that records the job, the claim and the job commit (or roll back) together, and a
 * concurrent claim of the same key waits for that transaction, then finds the claim and its job.
 */
export async function claimIdempotencyKey(
  db: DbOrTx,
  claim: { userId: string; scope: string; key: string; requestHash: string; jobId: string; ttlMs: number },
): Promise<IdempotencyRow | undefined> {
  const { ttlMs, ...values } = claim;
  for (let i = 0; i < 2; i++) {
    const inserted = await db
      .insert(idempotencyKeys)
      .values({ ...values, expiresAt: new Date(Date.now() + ttlMs) })
      .onConflictDoNothing()
      .returning();
    if (inserted.length > 0) return undefined;
    const [existing] = await db
      .select()
      .from(idempotencyKeys)
      .where(
        and(
          eq(idempotencyKeys.userId, claim.userId),
          eq(idempotencyKeys.scope, claim.scope),
          eq(idempotencyKeys.key, claim.key),
        ),
      );
    if (existing && existing.expiresAt.getTime() > Date.now()) return existing;
    // Expired (or deleted meanwhile): remove the stale claim and try once more.
    await db
      .delete(idempotencyKeys)
      .where(
        and(
          eq(idempotencyKeys.userId, claim.userId),
          eq(idempotencyKeys.scope, claim.scope),
          eq(idempotencyKeys.key, claim.key),
          lt(idempotencyKeys.expiresAt, new Date()),
        ),
      );
  }
  throw new Error('idempotency key could not be claimed');
}

/**
 * Delete expired keys; returns how many. In batches of `batch` rows, one short statement each: the API's
 * connections have a statement_timeout, and a day of keys at a high request rate is millions of rows.
 */
export async function purgeExpiredIdempotencyKeys(db: Db, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = db
      .select({ ctid: sql`ctid` })
      .from(idempotencyKeys)
      .where(lt(idempotencyKeys.expiresAt, new Date()))
      .limit(batch);
    const rows = await db
      .delete(idempotencyKeys)
      .where(sql`ctid in (${expired})`)
      .returning({ key: idempotencyKeys.key });
    total += rows.length;
    if (rows.length < batch) return total;
  }
}
