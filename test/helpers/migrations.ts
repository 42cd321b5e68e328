/**
 * A database at an earlier schema: the migrations of drizzle/ that come before `tag`, applied from a
 * copy of the folder whose journal ends there (for tests of a migration's backfill on existing rows).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { MIGRATIONS_DIR } from '../../src/db/migrate.js';

export async function migrateBefore(url: string, tag: string): Promise<void> {
  const earlier = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-migrations-'));
  try {
    await fs.cp(MIGRATIONS_DIR, earlier, { recursive: true });
    const journalFile = path.join(earlier, 'meta', '_journal.json');
    const journal = JSON.parse(await fs.readFile(journalFile, 'utf8')) as { entries: { tag: string }[] };
    const at = journal.entries.findIndex((e) => e.tag === tag);
    if (at < 1) throw new Error(`migration ${tag}: not in drizzle/, or the first one`);
    journal.entries = journal.entries.slice(0, at);
    await fs.writeFile(journalFile, JSON.stringify(journal));
    const raw = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await migrate(drizzle(raw), { migrationsFolder: earlier });
    } finally {
      await raw.end();
    }
  } finally {
    await fs.rm(earlier, { recursive: true, force: true });
  }
}
