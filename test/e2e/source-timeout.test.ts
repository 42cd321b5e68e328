/**
 * A source read past SOURCE_STATEMENT_TIMEOUT_MS: each attempt fails with PostgreSQL's reason, is
 * retried, and once the attempts are used up the job is failed with that reason in its error. The
 * source is a database of its own (not the stack's state database) with a view that takes a second.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createStackDatabase, type StackDatabase } from '../helpers/stack-database.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';

let source: StackDatabase;
let stack: Stack;

beforeAll(async () => {
  source = await createStackDatabase(inject('databaseUrl'), inject('templateDatabase'));
  const sql = postgres(source.url, { max: 1, onnotice: () => {} });
  // Every statement over the view waits a second first (an initplan), far past the worker's timeout.
  await sql.unsafe(
    `create view public.slow_orders as select id, tenant_id from orders where (select true from pg_sleep(1))`,
  );
  await sql.end();
  const file = path.join(inject('scratchDir'), `slow-${randomUUID().slice(0, 8)}.yaml`);
  await fs.writeFile(
    file,
    `datasets:
  slow:
    table: public.slow_orders
    trustKey: true
    tenantColumn: tenant_id
    key: [id]
    columns: [{ name: id, type: integer }]
`,
  );
  stack = await startStack({
    env: {
      DATASETS_FILE: file,
      SOURCE_DATABASE_URL: source.url,
      SOURCE_STATEMENT_TIMEOUT_MS: '200',
      EXPORT_MAX_ATTEMPTS: '2',
    },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await source?.drop();
});

it('fails each attempt with the statement timeout, retries, then fails the job with that reason', async () => {
  const { key } = await stack.newUser('slow-tenant');
  const call = api(stack, key);
  const res = await call('/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ dataset: 'slow', format: 'csv' }),
  });
  expect(res.status, await res.clone().text()).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const job = await eventually(
    async () => {
      const b = (await (await call(`/v1/jobs/${id}`)).json()) as {
        state: string;
        error: { message: string } | null;
        attemptLog: { attempt: number; error?: string | null }[];
      };
      return b.state === 'failed' || b.state === 'succeeded' ? b : undefined;
    },
    120_000,
    200,
  );
  expect(job.state).toBe('failed');
  expect(job.error?.message).toMatch(/statement timeout/);
  expect(job.attemptLog.map((a) => a.attempt)).toEqual([1, 2]);
}, 180_000);
