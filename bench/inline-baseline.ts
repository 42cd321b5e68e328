/**
 * The naive baseline for bench/isolation.ts: the same API surface, but POST /v1/exports runs the export
 * inside the request handler, as a service without a job system would: read the tenant's rows in
 * batches, format CSV, write the file, answer with the result. Same authentication, same job-row read for
 * GET /v1/jobs/{id}. Kept in bench/ only; never part of offload.
 *
 * EXPORT_MODE=js (default) formats the CSV in this process, as handler code usually does (an ORM query
 * plus a CSV writer); EXPORT_MODE=copy streams PostgreSQL's own COPY output instead, so the handler only
 * moves bytes (offload's activity does this).
 *
 * POST /v1/audio likewise runs espeak-ng | lame inside the handler and answers with the MP3.
 *
 * Usage: DATABASE_URL=… STORAGE_DIR=… PORT=… tsx bench/inline-baseline.ts
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { loadConfig } from '../src/config/env.js';
import { copyOut } from '../src/db/copy-out.js';
import { createDatabase } from '../src/db/client.js';
import { getJob } from '../src/db/jobs-repo.js';
import { authenticate } from '../src/db/users-repo.js';
import { LocalStorage } from '../src/storage/local.js';

const config = loadConfig();
const database = createDatabase(config.DATABASE_URL!, { max: 4, appName: 'baseline' });
// The export reads get their own pool (and application_name), as offload's workers do.
const exportDatabase = createDatabase(config.DATABASE_URL!, {
  max: config.DATABASE_POOL_MAX,
  appName: 'baseline-export',
});
const storage = new LocalStorage(config.storageDir);
const app = new Hono();

const COLUMNS = 'id, customer, email, country, status, currency, amount, item_count, created_at';
const MODE = process.env.EXPORT_MODE === 'copy' ? 'copy' : 'js';

function cell(v: string | number | boolean | Date | null): string {
  const s = v instanceof Date ? v.toISOString() : v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The tenant's rows as CSV text, formatted here, 1,000 rows per cursor batch. */
async function* csvRows(conn: typeof exportDatabase.sql, tenant: string): AsyncGenerator<string> {
  const cursor = conn
    .unsafe(`select ${COLUMNS} from orders where tenant_id = $1 order by id`, [tenant])
    .cursor(1000);
  for await (const rows of cursor) {
    yield (
      rows.map((r) => (Object.values(r) as Parameters<typeof cell>[0][]).map(cell).join(',')).join('\n') +
      '\n'
    );
  }
}

app.get('/healthz', (c) => c.json({ status: 'ok' }));

app.use('/v1/*', async (c, next) => {
  const key = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
  const principal = key ? await authenticate(database.db, key) : undefined;
  if (!principal) return c.json({ error: 'unauthorized' }, 401);
  c.set('tenant' as never, principal.tenantId as never);
  c.set('user' as never, principal.userId as never);
  await next();
});

app.get('/v1/jobs/:id', async (c) => {
  const job = await getJob(database.db, c.req.param('id'));
  if (!job || job.userId !== (c.get('user' as never) as string)) return c.json({ error: 'not found' }, 404);
  return c.json(job);
});

// The heavy work in the handler: the request holds its connection (and this process) until it is done.
app.post('/v1/exports', async (c) => {
  const tenant = c.get('tenant' as never) as string;
  const id = `inline_${randomUUID()}`;
  const conn = await exportDatabase.sql.reserve();
  try {
    const quoted = tenant.replaceAll("'", "''");
    const stream =
      MODE === 'copy'
        ? await copyOut(
            conn,
            `copy (select ${COLUMNS} from orders where tenant_id = '${quoted}' order by id) to stdout with (format csv)`,
          )
        : Readable.from(csvRows(conn, tenant));
    await storage.writePart(id, 0, stream);
  } finally {
    conn.release();
  }
  const published = await storage.publish(
    id,
    `${id}/orders.csv`,
    1,
    Buffer.from(COLUMNS.replaceAll(' ', '') + '\n'),
  );
  await storage.deleteParts(id);
  return c.json({ id, bytes: published.bytes, sha256: published.sha256 }, 200);
});

/** SPAWN_PREFIX (from bench/isolation.ts, e.g. `taskset -c 1 chrt --idle 0`) runs the speech processes on the heavy side's cores and priority. */
const SPAWN_PREFIX = (process.env.SPAWN_PREFIX ?? '').split(' ').filter(Boolean);
function spawnLowered(command: string[], opts: SpawnOptions) {
  const [bin, ...args] = [...SPAWN_PREFIX, ...command];
  return spawn(bin!, args, opts);
}

// Speech in the handler: espeak-ng's WAV piped into lame, the MP3 sent back when both have finished.
app.post('/v1/audio', async (c) => {
  const { text } = await c.req.json<{ text: string }>();
  const id = `inline_${randomUUID()}`;
  const dir = path.join(config.storageDir, 'inline-audio');
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${id}.mp3`);
  const espeak = spawnLowered(['espeak-ng', '--stdout'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const lame = spawnLowered(['lame', '--quiet', '-', file], { stdio: ['pipe', 'ignore', 'ignore'] });
  espeak.stdout!.pipe(lame.stdin!);
  espeak.stdin!.end(text);
  const exited = (child: typeof espeak) =>
    new Promise<number | null>((resolve) => child.once('exit', resolve));
  const [espeakCode, lameCode] = await Promise.all([exited(espeak), exited(lame)]);
  if (espeakCode !== 0 || lameCode !== 0) return c.json({ error: 'speech failed' }, 500);
  const mp3 = await fs.readFile(file);
  await fs.rm(file);
  return c.body(mp3, 200, { 'content-type': 'audio/mpeg' });
});

serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
  console.log(JSON.stringify({ msg: 'baseline listening', port: info.port }));
});
