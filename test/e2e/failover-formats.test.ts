/**
 * Kill-and-resume for NDJSON, XLSX, PDF, Parquet and gzip-compressed CSV and NDJSON: the
 * worker running an export is killed with SIGKILL mid-way, the retry resumes on the other worker from
 * its checkpoint, and the file is byte-identical to an uninterrupted export of the same request; read
 * back by an independent reader, it holds every row exactly once, in order. For CSV and NDJSON the
 * parts listed after the retry are each listed once and concatenate to the file.
 */
import { gunzipSync } from 'node:zlib';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAttempts } from '../../src/db/jobs-repo.js';
import { api, eventually, startStack, type ExportJobBody as JobBody, type Stack } from '../helpers/stack.js';
import { pdfPages, readBack, seedTenant } from '../helpers/data.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const ROWS = 40_000;
const PART_ROWS = 4000;

let stack: Stack;
let workers: WorkerProcess[] = [];
let tenant: string;
let key: string;

beforeAll(async () => {
  const env = {
    EXPORT_PART_ROWS: String(PART_ROWS),
    EXPORT_MAX_ROWS_PER_SEC: '10000',
    EXPORT_XLSX_SHEET_ROWS: '15001',
  };
  stack = await startStack({ queues: ['jobs'], env });
  workers = await Promise.all([
    startWorkerProcess(['exports'], stack.childEnv),
    startWorkerProcess(['exports'], stack.childEnv),
  ]);
  tenant = await seedTenant(stack.database.sql, ROWS);
  key = (await stack.newUser(tenant)).key;
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.stop();
});

async function start(format: string, compression?: 'gzip'): Promise<string> {
  const res = await api(stack, key)('/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ dataset: 'orders', format, ...(compression ? { compression } : {}) }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as JobBody).id;
}

const job = async (id: string) => (await (await api(stack, key)(`/v1/jobs/${id}`)).json()) as JobBody;

async function finished(id: string): Promise<JobBody> {
  const b = await eventually(
    async () => {
      const j = await job(id);
      return j.state === 'succeeded' || j.state === 'failed' ? j : undefined;
    },
    120_000,
    200,
  );
  expect(b.state).toBe('succeeded');
  return b;
}

async function download(id: string, format: string): Promise<string> {
  const file = path.join(stack.storageDir, `check-${id}.${format}`);
  const res = await api(stack, key)(`/v1/jobs/${id}/download`);
  expect(res.status).toBe(200);
  await fs.writeFile(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

/** The ids in the file, read back by an independent reader. */
async function idsInFile(format: string, id: string, compression?: 'gzip'): Promise<number[]> {
  let file = await download(id, format);
  if (compression) {
    // Node's gunzip reads every member, as gzip(1) does.
    await fs.writeFile(`${file}.plain`, gunzipSync(await fs.readFile(file)));
    file = `${file}.plain`;
  }
  if (format === 'csv')
    return ((await readBack('csv', file)) as { rows: string[][] }).rows.slice(1).map((r) => Number(r[0]));
  if (format === 'ndjson') return ((await readBack('ndjson', file)) as { id: number }[]).map((r) => r.id);
  if (format === 'xlsx') {
    const sheets = (await readBack('xlsx', file)) as { rows: string[][] }[];
    expect(sheets.map((s) => s.rows.length)).toEqual([15001, 15001, 10001]);
    return sheets.flatMap((s) => s.rows.slice(1).map((r) => Number(r[0])));
  }
  if (format === 'parquet') {
    const back = (await readBack('parquet', file)) as {
      columns: { name: string; type: string }[];
      rowGroups: number;
      rows: string[][];
    };
    // One row group per part, typed as on an uninterrupted export.
    expect(back.rowGroups).toBe(ROWS / PART_ROWS);
    expect(back.columns.map((c) => c.type)).toEqual([
      'int64',
      'string',
      'string',
      'string',
      'string',
      'string',
      'decimal128(38, 2)',
      'int64',
      'timestamp[us, tz=UTC]',
    ]);
    return back.rows.map((r) => Number(r[0]));
  }
  const pages = await pdfPages(file);
  expect(pages).toHaveLength(ROWS / 40);
  return pages.flatMap((p) =>
    p
      .split('\n')
      .map((line) => /^\s*(\d+)\s+\S/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1])),
  );
}

describe('failover in every format', () => {
  it.each([
    ['ndjson', undefined],
    ['xlsx', undefined],
    ['pdf', undefined],
    ['parquet', undefined],
    ['csv', 'gzip'],
    ['ndjson', 'gzip'],
  ] as const)(
    '%s (compression %s): a killed export resumes from its checkpoint and equals an uninterrupted one (bytes; PDF: text)',
    async (format, compression) => {
      const id = await start(format, compression);
      await eventually(
        async () => ((await job(id)).progress.done >= ROWS / 4 ? true : undefined),
        60_000,
        50,
      );
      const [first] = await listAttempts(stack.database.db, id);
      const victim = workers.find((w) => first?.worker === `${os.hostname()}:${w.pid}`);
      expect(victim, `attempt 1 ran on ${first?.worker}`).toBeDefined();
      await victim!.kill();
      // A fresh worker takes the dead one's place, so the next format also has two.
      workers = [
        ...workers.filter((w) => w !== victim),
        await startWorkerProcess(['exports'], stack.childEnv),
      ];

      const resumed = await finished(id);
      const attempts = await listAttempts(stack.database.db, id);
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
      expect(attempts[1]!.resumedFromRows).toBeGreaterThan(0);
      expect(attempts[1]!.rowsRead).toBe(ROWS - attempts[1]!.resumedFromRows);
      expect(resumed.result?.rows).toBe(ROWS);

      const straight = await finished(await start(format, compression));
      if (format === 'pdf') {
        // Same text on every page; only the generation time differs between the two jobs.
        const text = async (jobId: string) =>
          (await pdfPages(await download(jobId, 'pdf'))).map((p) => p.replace(/Generated [^\n]* UTC/, ''));
        expect(await text(resumed.id)).toEqual(await text(straight.id));
      } else {
        expect(straight.result?.bytes).toBe(resumed.result?.bytes);
        expect(straight.result?.sha256).toBe(resumed.result?.sha256);
      }

      const expected = (
        await stack.database.sql<
          { id: string }[]
        >`select id::text from orders where tenant_id = ${tenant} order by orders.id`
      ).map((r) => Number(r.id));
      expect(await idsInFile(format, id, compression)).toEqual(expected);

      if (format === 'csv' || format === 'ndjson') {
        const call = api(stack, key);
        const listed = (await (await call(`/v1/jobs/${id}/parts`)).json()) as {
          items: { index: number; rows: number; links: { download: string } }[];
        };
        expect(listed.items.map((p) => p.index)).toEqual([...Array(ROWS / PART_ROWS).keys()]);
        const parts = await Promise.all(
          listed.items.map(async (p) => Buffer.from(await (await call(p.links.download)).arrayBuffer())),
        );
        const file = Buffer.from(await (await call(`/v1/jobs/${id}/download`)).arrayBuffer());
        expect(Buffer.concat(parts).equals(file)).toBe(true);
      }
    },
  );
});
