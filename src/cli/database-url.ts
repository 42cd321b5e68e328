/** The database the command-line tools talk to: DATABASE_URL, or the one `npm run dev` is running. */
import fs from 'node:fs';
import path from 'node:path';

export function resolveDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const devFile = path.resolve('.data/dev.json');
  if (fs.existsSync(devFile)) {
    const dev = JSON.parse(fs.readFileSync(devFile, 'utf8')) as { databaseUrl?: string };
    if (dev.databaseUrl) return dev.databaseUrl;
  }
  throw new Error('No database: set DATABASE_URL, or start `npm run dev` (it writes .data/dev.json).');
}
