/**
 * COPY readers side by side: the same `COPY (SELECT … FROM orders …) TO STDOUT WITH CSV` of N rows
 * from an embedded PostgreSQL server, by the bare `psql` command into a file and by postgres.js
 * (src/db/copy-out.ts, what CSV exports read with) into a stored part (LocalStorage.writePart), in
 * turn, several rounds; prints wall time and this process's CPU time per read (the reader's cost;
 * psql's is its own process) as a Markdown table. Also reads with two connections side by side (two
 * halves of the rows), as an export's two lanes do. What the CSV export costs beyond the bare read
 * (parts, hashing, publish, the workflow) is bench/export-engine.ts's.
 * Usage: tsx bench/copy-reader.ts [--rows 1000000] [--rounds 3]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createDatabase } from '../src/db/client.js';
import { copyOut } from '../src/db/copy-out.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { seedOrders } from '../src/db/seed.js';
import { reserveConnection } from '../src/db/reserve.js';
import { LocalStorage } from '../src/storage/local.js';
import { which } from '../tools/binaries.js';
import { startEmbeddedPostgres } from '../tools/postgres.js';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '3' } },
});
const ROWS = Number(values.rows);
const COLS = 'id, customer, email, country, status, currency, amount, item_count, created_at';
const log = (s: string) => console.error(`[bench] ${s}`);

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-bench-copy-'));
await fs.chmod(dir, 0o755);
const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg') });
await migrateDatabase(pg.url);
const db = createDatabase(pg.url, { max: 3 });
log(`seeding ${ROWS} orders`);
await seedOrders(db.sql, ROWS, ['bench']);
await db.sql`vacuum analyze orders`;
const [mid] = await db.sql<{ id: string }[]>`
  select id::text from orders where tenant_id = 'bench' order by id offset ${Math.floor(ROWS / 2)} limit 1`;
const copyOf = (where = '') =>
  `copy (select ${COLS} from orders where tenant_id = 'bench'${where} order by id) to stdout with (format csv)`;
const halves = [copyOf(` and id < ${mid!.id}`), copyOf(` and id >= ${mid!.id}`)];

/** Reads the statements side by side; resolves with the bytes they gave. */
type Reader = (statements: string[]) => Promise<number>;

// postgres.js's reads land as an export part does: LocalStorage.writePart (coalesced writes to a file).
const storage = new LocalStorage(path.join(dir, 'storage'));
let nextPart = 0;

const readers: Record<string, Reader> = {
  async psql(statements) {
    const psql = which('psql');
    if (!psql) throw new Error('psql not found');
    const sizes = await Promise.all(
      statements.map(async (s, i) => {
        const file = path.join(dir, `psql.${i}.csv`);
        const fd = openSync(file, 'w');
        const child = spawn(psql, [pg.url, '-X', '-q', '-c', s], { stdio: ['ignore', fd, 'inherit'] });
        const [code] = (await once(child, 'exit')) as [number];
        closeSync(fd);
        if (code !== 0) throw new Error(`psql exited ${code}`);
        const { size } = await fs.stat(file);
        await fs.rm(file);
        return size;
      }),
    );
    return sizes.reduce((a, b) => a + b, 0);
  },
  async 'postgres.js'(statements) {
    const sizes = await Promise.all(
      statements.map(async (s) => {
        const lane = await reserveConnection(db.sql);
        try {
          return (await storage.writePart('bench', nextPart++, await copyOut(lane.sql, s))).bytes;
        } finally {
          lane.release();
        }
      }),
    );
    await fs.rm(path.join(dir, 'storage'), { recursive: true, force: true });
    return sizes.reduce((a, b) => a + b, 0);
  },
};

const results: string[] = [];
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const [lanes, statements] of [
    [1, [copyOf()]],
    [2, halves],
  ] as const) {
    for (const [name, read] of Object.entries(readers)) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const bytes = await read([...statements]);
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpu);
      const line = `| ${round} | ${lanes} | ${name} | ${(ms / 1000).toFixed(2)} s | ${Math.round((ROWS / ms) * 1000).toLocaleString('en-US')} | ${name === 'psql' ? '(own process)' : `${((used.user + used.system) / 1e6).toFixed(2)} s`} | ${(bytes / 1e6).toFixed(1)} |`;
      log(line);
      results.push(line);
    }
  }
}
await db.close();
await pg.stop();
await fs.rm(dir, { recursive: true, force: true });
console.log('| round | connections | reader | wall | rows/s | reader CPU | MB |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const line of results) console.log(line);
