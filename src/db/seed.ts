/**
 * Demo data: appends N `orders` rows spread over several tenants, generated inside PostgreSQL
 * (generate_series), so a million rows take seconds. Values are a pure function of the row id, so
 * the same seed gives the same data, and some names need CSV quoting (commas, quotes, accents).
 */
import type { Sql } from './client.js';

export const DEMO_TENANTS = ['acme', 'globex', 'initech', 'umbrella'] as const;

export async function seedOrders(
  sql: Sql,
  rows: number,
  tenants: readonly string[] = DEMO_TENANTS,
): Promise<{ from: number; to: number }> {
  const [row] = await sql<{ max: string | null }[]>`select max(id)::text as max from orders`;
  const from = Number(row?.max ?? 0) + 1;
  const to = from + rows - 1;
  if (rows <= 0) return { from, to: from - 1 };
  await sql`
    insert into orders (id, tenant_id, customer, email, country, status, currency, amount, item_count, created_at)
    select g,
      (${sql.array([...tenants])}::text[])[1 + (g % ${tenants.length})],
      case when g % 97 = 0 then 'O''Brien, "Jr." ' || (g % 1000)
           when g % 89 = 0 then 'Zoë Ångström ' || (g % 1000)
           else 'Customer ' || (g % 5000) end,
      'customer' || (g % 5000) || '@example.com',
      (array['US','DE','FR','GB','VN','JP','BR','IN','CA','AU'])[1 + (g * 7 % 10)],
      (array['pending','paid','shipped','delivered','refunded'])[1 + (g * 13 % 5)],
      (array['USD','EUR','GBP','VND','JPY'])[1 + (g * 3 % 5)],
      ((g * 7919) % 100000) / 100.0,
      1 + (g * 31 % 12),
      timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => (g * 37) % 31536000)
    from generate_series(${from}::bigint, ${to}::bigint) as g`;
  await sql`analyze orders`;
  return { from, to };
}

/**
 * Demo customers: appends N rows over the tenants, a pure function of the id like the orders. Some
 * notes are null, some hold a line break or markup characters, so every format's escaping is exercised.
 */
export async function seedCustomers(
  sql: Sql,
  rows: number,
  tenants: readonly string[] = DEMO_TENANTS,
): Promise<{ from: number; to: number }> {
  const [row] = await sql<{ max: string | null }[]>`select max(id)::text as max from customers`;
  const from = Number(row?.max ?? 0) + 1;
  const to = from + rows - 1;
  if (rows <= 0) return { from, to: from - 1 };
  await sql`
    insert into customers (id, tenant_id, name, email, country, signed_up_at, lifetime_value, note)
    select g,
      (${sql.array([...tenants])}::text[])[1 + (g % ${tenants.length})],
      case when g % 7 = 0 then 'Müller & Söhne <GmbH> ' || g else 'Client ' || g end,
      'client' || g || '@example.org',
      (array['US','DE','FR','GB','VN','JP','BR','IN','CA','AU'])[1 + (g * 3 % 10)],
      timestamptz '2023-01-01 00:00:00+00' + make_interval(secs => (g * 7919) % 63072000),
      ((g * 104729) % 1000000) / 100.0,
      case when g % 3 = 0 then null when g % 5 = 0 then E'two\nlines, "quoted"' else 'note ' || g end
    from generate_series(${from}::bigint, ${to}::bigint) as g`;
  await sql`analyze customers`;
  return { from, to };
}
