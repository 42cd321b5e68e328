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
 * Usage: DATABASE_URL=… STORAGE_DIR=… PORT=… tsx bench/inline-baseline.ts
 */
import { randomUUID } from 'node:crypto';
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
const database = createDatabase(config.DATABASE_URL!, { max: config.DATABASE_POOL_MAX, appName: 'baseline' });
const storage = new LocalStorage(config.storageDir);
const app = new Hono();

const COLUMNS = 'id, customer, email, country, status, currency, amount, item_count, created_at';
const MODE = process.env.EXPORT_MODE === 'copy' ? 'copy' : 'js';

function cell(v: string | number | boolean | Date | null): string {
  const s = v instanceof Date ? v.toISOString() : v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The tenant's rows as CSV text, formatted here, 1,000 rows per cursor batch. */
async function* csvRows(conn: typeof database.sql, tenant: string): AsyncGenerator<string> {
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
  const conn = await database.sql.reserve();
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

serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
  console.log(JSON.stringify({ msg: 'baseline listening', port: info.port }));
});
