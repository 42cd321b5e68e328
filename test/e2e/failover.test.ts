/**
 * A worker dies mid-export: two worker processes serve `exports`; the one running the export is killed
 * with SIGKILL; the retry runs on the other, resumes at the last checkpoint without reading earlier
 * rows again, and the file equals an uninterrupted export byte for byte.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAttempts } from '../../src/db/jobs-repo.js';
import { api, eventually, startStack, type ExportJobBody as JobBody, type Stack } from '../helpers/stack.js';
import { seedTenant, tenantCsvViaCopy } from '../helpers/data.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const ROWS = 250_000;
const PART_ROWS = 10_000;

let stack: Stack;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  const env = { EXPORT_PART_ROWS: String(PART_ROWS), EXPORT_MAX_ROWS_PER_SEC: '40000' };
  stack = await startStack({ queues: ['jobs'], env });
  workers = await Promise.all([
    startWorkerProcess(['exports'], stack.childEnv),
    startWorkerProcess(['exports'], stack.childEnv),
  ]);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.stop();
});

describe('failover', () => {
  it('stops a worker gracefully on SIGTERM', async () => {
    const extra = await startWorkerProcess(['exports'], stack.childEnv);
    const started = Date.now();
    expect(await extra.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(extra.output()).toContain('worker stopped');
  });

  it('finishes a killed export on the other worker from its checkpoint, byte-identical', async () => {
    const tenant = await seedTenant(stack.database.sql, ROWS);
    const { key } = await stack.newUser(tenant);
    const call = api(stack, key);
    const res = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as JobBody;
    const job = async () => (await (await call(`/v1/jobs/${id}`)).json()) as JobBody;

    // Wait until a fifth of the rows are done, then kill whichever worker runs the attempt.
    const doneAtKill = await eventually(
      async () => {
        const b = await job();
        return b.progress.done >= ROWS / 5 ? b.progress.done : undefined;
      },
      60_000,
      50,
    );
    const [first] = await listAttempts(stack.database.db, id);
    const victim = workers.find((w) => first?.worker === `${os.hostname()}:${w.pid}`);
    expect(victim, `attempt 1 ran on ${first?.worker}`).toBeDefined();
    const survivor = workers.find((w) => w !== victim)!;
    await victim!.kill();
    const killedAt = Date.now();

    // Progress resumes on the survivor as attempt 2.
    await eventually(
      async () => {
        const b = await job();
        return b.progress.attempt >= 2 && b.progress.done > 0 ? b : undefined;
      },
      60_000,
      50,
    );
    const resumedAfterMs = Date.now() - killedAt;

    const final = await eventually(
      async () => {
        const b = await job();
        return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
      },
      120_000,
      200,
    );
    expect(final.state).toBe('succeeded');
    expect(final.result?.rows).toBe(ROWS);

    const attempts = await listAttempts(stack.database.db, id);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    const second = attempts[1]!;
    expect(second.worker).toBe(`${os.hostname()}:${survivor.pid}`);
    // The retry resumed at a part boundary past the start and before the end...
    expect(second.resumedFromRows).toBeGreaterThan(0);
    expect(second.resumedFromRows % PART_ROWS).toBe(0);
    expect(second.resumedFromRows).toBeLessThan(ROWS);
    // ...and read only the rows after its checkpoint.
    expect(second.rowsRead).toBe(ROWS - second.resumedFromRows);

    // Byte for byte what one uninterrupted COPY of the tenant gives.
    const download = Buffer.from(await (await call(`/v1/jobs/${id}/download`)).arrayBuffer());
    const expected = await tenantCsvViaCopy(stack.database.sql, tenant);
    expect(download.length).toBe(expected.length);
    expect(createHash('sha256').update(download).digest('hex')).toBe(
      createHash('sha256').update(expected).digest('hex'),
    );
    // The parts are gone once the job is done.
    await expect(fs.readdir(path.join(stack.storageDir, 'parts', id))).rejects.toThrow();

    console.log(
      `failover: killed at ${doneAtKill} rows done; attempt 2 resumed from ${second.resumedFromRows} rows; ` +
        `progress resumed ${resumedAfterMs} ms after the kill`,
    );
  });
});
