/**
 * `COPY … TO STDOUT` through postgres.js as patches/apply.mjs leaves it: the rows of a socket chunk
 * arrive as one Buffer (not one per row), and the bytes are the same in the same order whatever the
 * rows' sizes (a row longer than a socket chunk included), with notices between rows, with a consumer
 * slower than the server, and with an error in the middle of the COPY; the connection goes on working.
 * The expected bytes are built here from the same formulas the server evaluates, not read back with
 * postgres.js.
 */
import { createHash } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Sql } from '../../src/db/client.js';
import { copyOut } from '../../src/db/copy-out.js';

let sql: Sql;
const notices: string[] = [];

beforeAll(() => {
  // One connection: every COPY and the query after it share it.
  sql = postgres(inject('databaseUrl'), { max: 1, onnotice: (n) => notices.push(String(n.message)) });
});

afterAll(async () => {
  await sql.end({ timeout: 1 });
});

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/**
 * The chunks of a COPY as its 'data' events hand them over (one per push while the consumer keeps up;
 * an async iterator would join what was buffered and hide how the rows were pushed), each consumed
 * after `delayMs` (0: at once; else the stream is paused meanwhile), into `chunks`.
 */
async function chunksOf(statement: string, delayMs = 0, chunks: Buffer[] = []): Promise<Buffer[]> {
  const stream = await copyOut(sql, statement);
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (delayMs > 0) {
        stream.pause();
        setTimeout(() => stream.resume(), delayMs);
      }
    });
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  return chunks;
}

describe('COPY TO STDOUT, rows batched per socket chunk', () => {
  it('gives the same bytes as the rows, small and larger than a socket chunk, in far fewer chunks', async () => {
    const rows = 20_000;
    const chunks = await chunksOf(
      `copy (select i, repeat(md5(i::text), i % 7), case when i % 5000 = 0 then repeat('x', 300000) end
        from generate_series(1, ${rows}) i) to stdout with (format csv)`,
    );
    let expected = '';
    for (let i = 1; i <= rows; i++)
      // CSV quotes an empty string ("") to tell it from NULL (nothing).
      expected += `${i},${i % 7 === 0 ? '""' : md5(String(i)).repeat(i % 7)},${i % 5000 === 0 ? 'x'.repeat(300_000) : ''}\n`;
    expect(Buffer.concat(chunks).equals(Buffer.from(expected))).toBe(true);
    // One push per row would give 20,000 chunks.
    expect(chunks.length).toBeLessThan(rows / 20);
  });

  it('keeps the rows whole and in order with notices between them', async () => {
    await sql`
      create or replace function pg_temp.noisy(i int) returns int language plpgsql as $$
      begin
        if i % 100 = 0 then raise notice 'row %', i; end if;
        return i;
      end $$`;
    notices.length = 0;
    const chunks = await chunksOf(
      `copy (select pg_temp.noisy(i), i * 2 from generate_series(1, 1000) i) to stdout with (format csv)`,
    );
    const expected = Array.from({ length: 1000 }, (_, k) => `${k + 1},${(k + 1) * 2}\n`).join('');
    expect(Buffer.concat(chunks).toString()).toBe(expected);
    expect(notices).toEqual(Array.from({ length: 10 }, (_, k) => `row ${(k + 1) * 100}`));
  });

  it('loses nothing to a consumer slower than the server, and the connection is usable after', async () => {
    const rows = 200_000;
    const chunks = await chunksOf(
      `copy (select i, md5(i::text) from generate_series(1, ${rows}) i) to stdout with (format csv)`,
      1,
    );
    const text = Buffer.concat(chunks).toString();
    const lines = text.split('\n');
    expect(lines.length).toBe(rows + 1);
    expect(lines[0]).toBe(`1,${md5('1')}`);
    expect(lines[rows - 1]).toBe(`${rows},${md5(String(rows))}`);
    expect(createHash('sha256').update(text).digest('hex')).toBe(
      createHash('sha256')
        .update(Array.from({ length: rows }, (_, k) => `${k + 1},${md5(String(k + 1))}\n`).join(''))
        .digest('hex'),
    );
    const [row] = await sql<{ one: number }[]>`select 1 as one`;
    expect(row!.one).toBe(1);
  });

  it('fails the stream with the server error raised mid-COPY, and the connection is usable after', async () => {
    const chunks: Buffer[] = [];
    const failed = chunksOf(
      `copy (select i, 1 / (i - 150000) from generate_series(1, 200000) i) to stdout with (format csv)`,
      0,
      chunks,
    );
    await expect(failed).rejects.toMatchObject({ code: '22012' });
    // What arrived before the error is whole rows from the first one on, in order (integer division:
    // 1 / (i - 150000) is 0 for every earlier row but i = 149999).
    const got = Buffer.concat(chunks).toString();
    const n = got.split('\n').length - 1;
    const rows = Array.from({ length: n }, (_, k) => `${k + 1},${k + 1 === 149_999 ? -1 : 0}\n`);
    expect(got).toBe(rows.join(''));
    const [row] = await sql<{ one: number }[]>`select 1 as one`;
    expect(row!.one).toBe(1);
  });
});
