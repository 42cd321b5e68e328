/** Test data helpers: a unique tenant with seeded orders, and the tenant's rows as PostgreSQL prints them. */
import { parse } from 'csv-parse/sync';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Sql } from '../../src/db/client.js';
import { copyOut } from '../../src/db/copy-out.js';
import { seedCustomers, seedOrders } from '../../src/db/seed.js';
import { requirePyarrowPython } from '../../tools/pyarrow.js';

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
  // Through copyOut: a bare COPY stream can leave its connection stuck (postgres.js bug, see copy-out.ts).
  const stream = await copyOut(
    sql,
    `copy (select id, customer, email, country, status, currency, amount, item_count, created_at from orders
      where tenant_id = '${quoted}' order by id) to stdout with (format csv)`,
  );
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Parse CSV with an independent reader (csv-parse), not the code that wrote it. */
export function parseCsv(text: string): string[][] {
  const records: unknown = parse(text);
  return records as string[][];
}

/** A unique tenant with seeded customers. */
export async function seedCustomerTenant(sql: Sql, rows: number): Promise<string> {
  const tenant = `c-${randomUUID().slice(0, 8)}`;
  await seedCustomers(sql, rows, [tenant]);
  return tenant;
}

/** Reads an exported file back with Python's csv/json modules, openpyxl or pyarrow (not the code that wrote it). */
const execFileAsync = promisify(execFile);

export async function readBack(kind: 'csv' | 'ndjson' | 'xlsx' | 'parquet', file: string): Promise<unknown> {
  // The Debian python3, where setup installs python3-openpyxl (a pyenv python on PATH may lack it);
  // for Parquet, the venv setup installs pyarrow into (tools/pyarrow.ts).
  const python =
    kind === 'parquet'
      ? requirePyarrowPython()
      : existsSync('/usr/bin/python3')
        ? '/usr/bin/python3'
        : 'python3';
  // Not execFileSync: the API under test runs in this process, and a blocked event loop stalls it.
  const { stdout } = await execFileAsync(
    python,
    [path.join(import.meta.dirname, 'read-back.py'), kind, file],
    {
      maxBuffer: 512 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout) as unknown;
}

/** The text of a PDF as poppler's pdftotext lays it out, one string per page. */
export async function pdfPages(file: string): Promise<string[]> {
  const { stdout } = await execFileAsync('pdftotext', ['-layout', file, '-'], {
    maxBuffer: 512 * 1024 * 1024,
  });
  const pages = stdout.split('\f');
  if (pages.at(-1)?.trim() === '') pages.pop();
  return pages;
}
