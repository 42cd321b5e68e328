/** Secrets shared by all processes through the database: created once by whoever needs one first. */
import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { appSecrets } from './schema.js';

const caches = new WeakMap<Db, Map<string, Promise<string>>>();

async function load(db: Db, name: string): Promise<string> {
  await db
    .insert(appSecrets)
    .values({ name, value: randomBytes(32).toString('base64url') })
    .onConflictDoNothing();
  const [row] = await db.select().from(appSecrets).where(eq(appSecrets.name, name));
  return row!.value;
}

/** The named secret, created with 256 random bits if it does not exist yet. */
export function sharedSecret(db: Db, name: string): Promise<string> {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map<string, Promise<string>>()));
  let p = cache.get(name);
  if (!p) {
    p = load(db, name);
    p.catch(() => cache.delete(name));
    cache.set(name, p);
  }
  return p;
}
