/**
 * Every format through HTTP on the real stack, read back by independent readers (Python's csv and
 * json modules, openpyxl, pyarrow, poppler's pdftotext), with filters, sort, column choice and a
 * second dataset; and the 422 answers for requests that cannot be served.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { pdfPages, readBack, seedCustomerTenant, seedTenant } from '../helpers/data.js';

interface JobBody {
  id: string;
  state: string;
  result: { rows: number; bytes: number; contentType: string; sha256: string } | null;
  error: { message: string } | null;
  links: { self: string; download: string };
}

let stack: Stack;
let orderTenant: string;
let customerTenant: string;
let key: string;
const ORDERS = 3000;
const CUSTOMERS = 2500;

beforeAll(async () => {
  stack = await startStack({
    env: {
      EXPORT_PART_ROWS: '700',
      EXPORT_XLSX_SHEET_ROWS: '1001',
      EXPORT_PDF_ROWS_PER_PAGE: '40',
      EXPORT_MAX_ROWS: '2800',
    },
  });
  orderTenant = await seedTenant(stack.database.sql, ORDERS);
  customerTenant = orderTenant.replace(/^t-/, 'c-');
  await seedCustomerTenantAs(customerTenant);
  key = (await stack.newUser(orderTenant)).key;
});

/** Customers for the same user's tenant (the orders tenant). */
async function seedCustomerTenantAs(_name: string): Promise<void> {
  const { seedCustomers } = await import('../../src/db/seed.js');
  await seedCustomers(stack.database.sql, CUSTOMERS, [orderTenant]);
  await seedCustomerTenant(stack.database.sql, 50); // another tenant's customers must never appear
}

afterAll(async () => {
  await stack?.stop();
});

async function runExport(body: Record<string, unknown>): Promise<{ job: JobBody; file: string }> {
  const call = api(stack, key);
  const res = await call('/v1/exports', { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(202);
  const created = (await res.json()) as JobBody;
  const job = await eventually(
    async () => {
      const b = (await (await call(created.links.self)).json()) as JobBody;
      return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
    },
    90_000,
    200,
  );
  expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
  const download = await call(job.links.download);
  expect(download.status).toBe(200);
  const file = path.join(stack.storageDir, `read-${job.id}.${String(body.format)}`);
  const bytes = Buffer.from(await download.arrayBuffer());
  // The size and SHA-256 the job reports (hashed as the parts were written) are the downloaded file's.
  expect([bytes.length, createHash('sha256').update(bytes).digest('hex')]).toEqual([
    job.result!.bytes,
    job.result!.sha256,
  ]);
  await fs.writeFile(file, bytes);
  return { job, file };
}

const sqlText = (sql: string, params: unknown[]) =>
  stack.database.sql.unsafe<Record<string, string | null>[]>(sql, params as never[]);

describe('formats', () => {
  it('CSV with a BOM, filters, sort and chosen columns equals the matching rows', async () => {
    // A date window inside the tenant's data (its dates depend on the ids other test files left).
    const [window] = await sqlText(
      `select to_char(percentile_disc(0.2) within group (order by created_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as lo,
              to_char(percentile_disc(0.9) within group (order by created_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as hi
         from orders where tenant_id = $1`,
      [orderTenant],
    );
    const { job, file } = await runExport({
      dataset: 'orders',
      format: 'csv',
      bom: true,
      columns: ['id', 'customer', 'amount', 'status', 'created_at'],
      filters: {
        status: ['paid', 'shipped'],
        amount: { from: 100, to: 800.5 },
        created_at: { from: window!.lo, to: window!.hi },
      },
      sort: { column: 'amount', direction: 'desc' },
    });
    const expected = await sqlText(
      `select id::text, customer, amount::text, status, created_at::text from orders
        where tenant_id = $1 and status in ('paid', 'shipped') and amount >= 100 and amount < 800.5
          and created_at >= $2::timestamptz and created_at < $3::timestamptz
        order by orders.amount desc, orders.id desc`,
      [orderTenant, window!.lo, window!.hi],
    );
    expect(expected.length).toBeGreaterThan(100);
    const back = (await readBack('csv', file)) as { bom: boolean; rows: string[][] };
    expect(back.bom).toBe(true);
    expect(back.rows[0]).toEqual(['id', 'customer', 'amount', 'status', 'created_at']);
    expect(back.rows.slice(1)).toEqual(expected.map((r) => Object.values(r)));
    expect(job.result?.rows).toBe(expected.length);
  });

  it('sorts on a column full of ties across part boundaries, and quotes filter values as data', async () => {
    // About 2400 rows over five statuses, parts of 700 rows: part boundaries fall inside runs of ties.
    const { file } = await runExport({
      dataset: 'orders',
      format: 'csv',
      columns: ['id', 'status'],
      filters: { amount: { to: 800 } },
      sort: { column: 'status', direction: 'desc' },
    });
    const expected = await sqlText(
      `select id::text, status from orders where tenant_id = $1 and amount < 800 order by status desc, orders.id desc`,
      [orderTenant],
    );
    const back = (await readBack('csv', file)) as { rows: string[][] };
    expect(back.rows.slice(1)).toEqual(expected.map((r) => Object.values(r)));

    const hostile = await runExport({
      dataset: 'orders',
      format: 'csv',
      filters: { country: ["DE') or ('1'='1", "x'; drop table orders; --"] },
    });
    expect(hostile.job.result?.rows).toBe(0);
    expect(
      (await sqlText('select count(*)::text as n from orders where tenant_id = $1', [orderTenant]))[0]?.n,
    ).toBe(String(ORDERS));
  });

  it('NDJSON of the second dataset: one JSON object per row, nulls and line breaks intact', async () => {
    const { job, file } = await runExport({
      dataset: 'customers',
      format: 'ndjson',
      sort: { column: 'name', direction: 'asc' },
      filters: { country: ['US', 'DE', 'FR'] },
    });
    expect(job.result?.contentType).toBe('application/x-ndjson');
    const expected = await sqlText(
      `select id, name, email, country, signed_up_at, lifetime_value, note from customers
        where tenant_id = $1 and country in ('US', 'DE', 'FR') order by name, id`,
      [orderTenant],
    );
    const back = (await readBack('ndjson', file)) as Record<string, unknown>[];
    expect(back).toHaveLength(expected.length);
    expect(back.some((r) => r.note === null)).toBe(true);
    expect(back.some((r) => typeof r.note === 'string' && r.note.includes('\n'))).toBe(true);
    back.forEach((r, i) => {
      const e = expected[i]!;
      expect(Object.keys(r)).toEqual([
        'id',
        'name',
        'email',
        'country',
        'signed_up_at',
        'lifetime_value',
        'note',
      ]);
      expect(r.id).toBe(Number(e.id));
      expect(r.name).toBe(e.name);
      expect(r.note).toBe(e.note);
      expect(r.lifetime_value).toBe(Number(e.lifetime_value));
      expect(new Date(r.signed_up_at as string).getTime()).toBe(new Date(e.signed_up_at as never).getTime());
    });
  });

  it('XLSX continues on further sheets past the sheet limit and reads back in openpyxl', async () => {
    const { job, file } = await runExport({ dataset: 'customers', format: 'xlsx' });
    expect(job.result?.rows).toBe(CUSTOMERS);
    const expected = await sqlText(
      `select id::text, name, email, country, to_char(signed_up_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as t,
              lifetime_value::float8::text as v, note from customers where tenant_id = $1 order by customers.id`,
      [orderTenant],
    );
    const sheets = (await readBack('xlsx', file)) as { name: string; rows: (string | null)[][] }[];
    // 1001 rows per sheet including the header: 1000 + 1000 + 500.
    expect(sheets.map((s) => s.name)).toEqual(['customers', 'customers (2)', 'customers (3)']);
    expect(sheets.map((s) => s.rows.length)).toEqual([1001, 1001, 501]);
    const labels = ['Customer ID', 'Name', 'E-mail', 'Country', 'Signed up', 'Lifetime value', 'Note'];
    for (const s of sheets) expect(s.rows[0]).toEqual(labels);
    const rows = sheets.flatMap((s) => s.rows.slice(1));
    expect(rows).toHaveLength(CUSTOMERS);
    rows.forEach((r, i) => {
      const e = expected[i]!;
      expect(r[0]).toBe(e.id);
      expect(r[1]).toBe(e.name);
      expect(r[2]).toBe(e.email);
      expect(r[4]?.slice(0, 19)).toBe(e.t);
      expect(Number(r[5])).toBeCloseTo(Number(e.v), 6);
      expect(r[6]).toBe(e.note);
    });
  });

  it('Parquet: one row group per part, typed columns and nulls, read back by pyarrow', async () => {
    const { job, file } = await runExport({
      dataset: 'customers',
      format: 'parquet',
      sort: { column: 'name', direction: 'asc' },
    });
    expect(job.result?.contentType).toBe('application/vnd.apache.parquet');
    expect(job.result?.rows).toBe(CUSTOMERS);
    const expected = await sqlText(
      `select id::text, name, email, country,
              to_char(signed_up_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as t,
              round(lifetime_value, 2)::text as v, note
         from customers where tenant_id = $1 order by name, id`,
      [orderTenant],
    );
    const back = (await readBack('parquet', file)) as {
      columns: { name: string; type: string; nullable: boolean }[];
      rowGroups: number;
      rows: (string | null)[][];
    };
    expect(back.columns).toEqual([
      { name: 'id', type: 'int64', nullable: false },
      { name: 'name', type: 'string', nullable: false },
      { name: 'email', type: 'string', nullable: false },
      { name: 'country', type: 'string', nullable: false },
      { name: 'signed_up_at', type: 'timestamp[us, tz=UTC]', nullable: false },
      { name: 'lifetime_value', type: 'decimal128(38, 2)', nullable: false },
      { name: 'note', type: 'string', nullable: true },
    ]);
    // Parts of 700 rows: 700 + 700 + 700 + 400.
    expect(back.rowGroups).toBe(Math.ceil(CUSTOMERS / 700));
    expect(back.rows.some((r) => r[6] === null)).toBe(true);
    expect(back.rows.some((r) => r[6]?.includes('\n'))).toBe(true);
    expect(back.rows).toEqual(expected.map((r) => Object.values(r)));
  });

  it('PDF: paginated table with title, generation time, header and page number on every page', async () => {
    const { job, file } = await runExport({
      dataset: 'orders',
      format: 'pdf',
      title: 'Paid orders',
      columns: ['id', 'status', 'amount', 'country'],
      filters: { status: ['paid'] },
    });
    expect(job.result?.contentType).toBe('application/pdf');
    const expected = await sqlText(
      `select id::text, status, amount::text, country from orders where tenant_id = $1 and status = 'paid' order by orders.id`,
      [orderTenant],
    );
    const pages = await pdfPages(file);
    expect(pages).toHaveLength(Math.ceil(expected.length / 40));
    const seen: string[][] = [];
    pages.forEach((text, i) => {
      expect(text).toContain('Paid orders');
      expect(text).toMatch(/Generated \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);
      expect(text).toMatch(/Order ID\s+Status\s+Amount\s+Country/);
      expect(text).toContain(`Page ${i + 1}`);
      for (const line of text.split('\n')) {
        const m = /^\s*(\d+)\s+(paid)\s+(\d+\.\d{2})\s+([A-Z]{2})\s*$/.exec(line);
        if (m) seen.push(m.slice(1));
      }
    });
    const want = expected.map((r) => Object.values(r));
    expect(seen).toEqual(want);
  });
});

describe('bad requests', () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['unknown dataset', { dataset: 'nope', format: 'csv' }, 'dataset', /allowed: orders, customers/],
    ['unknown format', { dataset: 'orders', format: 'xml' }, 'format', /csv, ndjson, xlsx, pdf, parquet/],
    [
      'unknown column',
      { dataset: 'customers', format: 'csv', columns: ['amount'] },
      'columns.0',
      /allowed: id, name/,
    ],
    [
      'unknown filter',
      { dataset: 'orders', format: 'csv', filters: { colour: ['red'] } },
      'filters.colour',
      /allowed: created_at, amount, status, country/,
    ],
    [
      'unknown filter value',
      { dataset: 'orders', format: 'csv', filters: { status: ['lost'] } },
      'filters.status.0',
      /allowed: pending, paid/,
    ],
    [
      'empty range',
      { dataset: 'orders', format: 'csv', filters: { created_at: {} } },
      'filters.created_at',
      /empty range/,
    ],
    [
      'bad date',
      { dataset: 'orders', format: 'csv', filters: { created_at: { from: 'yesterday' } } },
      'filters.created_at.from',
      /ISO 8601/,
    ],
    [
      'unsortable column',
      { dataset: 'orders', format: 'csv', sort: { column: 'email' } },
      'sort.column',
      /allowed: id, created_at/,
    ],
    ['BOM on a PDF', { dataset: 'orders', format: 'pdf', bom: true }, 'bom', /only for format csv/],
    [
      'gzip on Parquet',
      { dataset: 'orders', format: 'parquet', compression: 'gzip' },
      'compression',
      /gzip only for format csv or ndjson/,
    ],
    [
      'title on Parquet',
      { dataset: 'orders', format: 'parquet', title: 'x' },
      'title',
      /only for format pdf/,
    ],
    ['over the row limit', { dataset: 'orders', format: 'csv' }, 'filters', /limit of 2800 rows/],
  ];
  it.each(cases)('%s → 422 naming the field', async (_name, body, field, reason) => {
    const res = await api(stack, key)('/v1/exports', { method: 'POST', body: JSON.stringify(body) });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await res.json()) as { errors: { field: string; reason: string }[] };
    const match = problem.errors.find((e) => e.field === field);
    expect(match, JSON.stringify(problem.errors)).toBeDefined();
    expect(match!.reason).toMatch(reason);
  });

  it('takes an inverted range (valid by the document) as matching no rows', async () => {
    const res = await api(stack, key)('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv', filters: { amount: { from: 10, to: 5 } } }),
    });
    expect(res.status).toBe(202);
  });

  it('the row limit counts only the filtered rows', async () => {
    const res = await api(stack, key)('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv', filters: { status: ['paid'] } }),
    });
    expect(res.status).toBe(202);
  });
});
