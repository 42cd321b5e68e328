/** `npm run db:seed -- --rows N [--customers M]`: append demo orders (and customers) across the demo tenants. */
import { parseArgs } from 'node:util';
import { createDatabase } from '../db/client.js';
import { migrateDatabase } from '../db/migrate.js';
import { seedCustomers, seedOrders } from '../db/seed.js';
import { resolveDatabaseUrl } from './database-url.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '100000' }, customers: { type: 'string', default: '1000' } },
  });
  const rows = Number(values.rows);
  if (!Number.isInteger(rows) || rows < 0) throw new Error('--rows: must be a whole number');
  const customerRows = Number(values.customers);
  if (!Number.isInteger(customerRows) || customerRows < 0)
    throw new Error('--customers: must be a whole number');
  const url = resolveDatabaseUrl();
  await migrateDatabase(url);
  const database = createDatabase(url, { max: 1, appName: 'offload-seed' });
  try {
    const started = Date.now();
    const { from, to } = await seedOrders(database.sql, rows);
    console.log(
      `seeded ${rows} orders (ids ${from}..${to}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    await seedCustomers(database.sql, customerRows);
    console.log(`seeded ${customerRows} customers`);
  } finally {
    await database.close();
  }
}

main().catch((err: unknown) => {
  console.error(`db:seed: ${(err as Error).message}`);
  process.exit(1);
});
