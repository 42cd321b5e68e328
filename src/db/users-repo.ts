/** Users and their API keys. */
import { and, eq, isNull, sql } from 'drizzle-orm';
import { generateApiKey, parseApiKey, secretMatches } from '../lib/api-keys.js';
import { newUserId, ulid } from '../lib/ids.js';
import type { Db } from './client.js';
import { preparedPerDb } from './prepared.js';
import { apiKeys, users } from './schema.js';

export type KeyScope = 'user' | 'admin';

export interface Principal {
  userId: string;
  userName: string;
  tenantId: string;
  scope: KeyScope;
  keyId: string;
  /** The user's own limits (null: the configured default), read with the key: no query per submission. */
  limits?: OwnLimits;
}

/** A user's own limit columns; null where the configured default applies. */
export interface OwnLimits {
  maxActiveJobs: number | null;
  maxRunningHeavy: number | null;
  highestPriority: number | null;
}

/** Find a user by name, creating it in the given tenant when missing. A user never changes tenant. */
export async function ensureUser(db: Db, name: string, tenantId: string) {
  const existing = await db.query.users.findFirst({ where: eq(users.name, name) });
  if (existing) {
    if (existing.tenantId !== tenantId) {
      throw new Error(`user ${name} already exists in tenant ${existing.tenantId}, not ${tenantId}`);
    }
    return existing;
  }
  const [created] = await db
    .insert(users)
    .values({ id: newUserId(), name, tenantId })
    .onConflictDoNothing()
    .returning();
  return created ?? (await db.query.users.findFirst({ where: eq(users.name, name) }))!;
}

/** Create a key for a user. The plain key is returned once and never stored. */
export async function createApiKey(db: Db, userId: string, scope: KeyScope = 'user') {
  const generated = generateApiKey();
  const id = `key_${ulid().toLowerCase()}`;
  await db
    .insert(apiKeys)
    .values({ id, userId, prefix: generated.prefix, secretHash: generated.secretHash, scope });
  return { id, key: generated.key, prefix: generated.prefix, scope };
}

export async function listApiKeys(db: Db, userId?: string) {
  const rows = await db
    .select({
      id: apiKeys.id,
      prefix: apiKeys.prefix,
      scope: apiKeys.scope,
      user: users.name,
      tenantId: users.tenantId,
      createdAt: apiKeys.createdAt,
      lastUsedAt: apiKeys.lastUsedAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(userId ? eq(apiKeys.userId, userId) : undefined)
    .orderBy(apiKeys.createdAt);
  return rows;
}

/** Revoke a key by id or prefix. Returns false when no live key matched. */
export async function revokeApiKey(db: Db, idOrPrefix: string): Promise<boolean> {
  const column = idOrPrefix.startsWith('key_') ? apiKeys.id : apiKeys.prefix;
  const rows = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(column, idOrPrefix), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return rows.length > 0;
}

/** The key lookup of every authenticated request. */
const keyLookup = preparedPerDb((db) =>
  db
    .select({
      keyId: apiKeys.id,
      secretHash: apiKeys.secretHash,
      scope: apiKeys.scope,
      revokedAt: apiKeys.revokedAt,
      userId: users.id,
      userName: users.name,
      tenantId: users.tenantId,
      maxActiveJobs: users.maxActiveJobs,
      maxRunningHeavy: users.maxRunningHeavy,
      highestPriority: users.highestPriority,
    })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(eq(apiKeys.prefix, sql.placeholder('prefix')))
    .limit(1)
    .prepare('offload_key_lookup'),
);

/** Resolve a presented key to its principal, or undefined when it is unknown, wrong or revoked. */
export async function authenticate(db: Db, presented: string): Promise<Principal | undefined> {
  const parsed = parseApiKey(presented);
  if (!parsed) return undefined;
  const [row] = await keyLookup(db).execute({ prefix: parsed.prefix });
  if (!row || row.revokedAt || !secretMatches(parsed.secret, row.secretHash)) return undefined;
  return {
    userId: row.userId,
    userName: row.userName,
    tenantId: row.tenantId,
    scope: row.scope,
    keyId: row.keyId,
    limits: {
      maxActiveJobs: row.maxActiveJobs,
      maxRunningHeavy: row.maxRunningHeavy,
      highestPriority: row.highestPriority,
    },
  };
}

/**
 * Of the given key ids, those that still authenticate: not revoked, and their user still exists (a
 * deleted user's keys go with it). One indexed query for any number of ids, so open streams can recheck
 * their keys every second or two. The ids go as one text array literal, not sql.array(): postgres.js
 * can only serialise arrays once it has fetched the array types on a connection.
 */
export async function liveKeyIds(db: Db, keyIds: readonly string[]): Promise<Set<string>> {
  if (keyIds.length === 0) return new Set();
  const literal = `{${keyIds.map((id) => `"${id.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
  const rows = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(and(sql`${apiKeys.id} = any(${literal}::text[])`, isNull(apiKeys.revokedAt)));
  return new Set(rows.map((r) => r.id));
}
