/**
 * Queries built once per database handle. Building a query with drizzle costs more CPU than PostgreSQL
 * spends answering a point read, so the reads on the API's busiest paths are built once and then only
 * executed with their parameters (`sql.placeholder`).
 */
import type { Db } from './client.js';

export function preparedPerDb<T>(build: (db: Db) => T): (db: Db) => T {
  const cache = new WeakMap<Db, T>();
  return (db) => {
    let built = cache.get(db);
    if (!built) cache.set(db, (built = build(db)));
    return built;
  };
}
