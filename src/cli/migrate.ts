/** `npm run db:migrate`: apply the migrations in drizzle/. */
import { migrateDatabase } from '../db/migrate.js';
import { resolveDatabaseUrl } from './database-url.js';

migrateDatabase(resolveDatabaseUrl()).then(
  () => console.log('migrations applied'),
  (err: unknown) => {
    console.error(`db:migrate: ${(err as Error).message}`);
    process.exit(1);
  },
);
