/** Test data helpers: a unique tenant with seeded orders, and the tenant's rows as PostgreSQL prints them. */
import { parse } from 'csv-parse/sync';
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../src/db/client.js';
import { seedOrders } from '../../src/db/seed.js';

export async function seedTenant(sql: Sql, rows: number): Promise<string> {
  const tenant = `t-${randomUUID().slice(0, 8)}`;
  await seedOrders(sql, rows, [tenant]);
  return tenant;
}

/** The tenant's orders, every column as PostgreSQL's text output, in id order. */
export async function tenantRowsAsText(sql: Sql, tenant: string): Promise<string[][]> {
  const rows = await sql.unsafe<Record<string, string>[]>(
    `select id::text, customer, email, country, status, currency, amount::text, item_count::text, created_at::text
       from orders where tenant_id = $1 order by orders.id`,
    [tenant],
  );
  return rows.map((r) => Object.values(r));
}

/** The whole tenant as one COPY, with the header offload writes: what an uninterrupted export must equal. */
export async function tenantCsvViaCopy(sql: Sql, tenant: string): Promise<Buffer> {
  const chunks: Buffer[] = [
    Buffer.from('id,customer,email,country,status,currency,amount,item_count,created_at\n'),
  ];
  const quoted = tenant.replaceAll("'", "''");
  const stream = await sql
    .unsafe(
      `copy (select id, customer, email, country, status, currency, amount, item_count, created_at from orders
        where tenant_id = '${quoted}' order by id) to stdout with (format csv)`,
    )
    .readable();
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Parse CSV with an independent reader (csv-parse), not the code that wrote it. */
export function parseCsv(text: string): string[][] {
  const records: unknown = parse(text);
  return records as string[][];
}
