/**
 * The S3 storage driver against a real S3-compatible server (MinIO started by the test): exports are
 * stored as part objects, published by one multipart upload that nobody sees before it completes, the
 * parts are cleaned up, and a worker killed mid-export is resumed from the parts already in the bucket,
 * byte-identical to one uninterrupted COPY.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listAttempts } from '../../src/db/jobs-repo.js';
import { startMinio, type Minio } from '../helpers/minio.js';
import { api, eventually, startStack, type ExportJobBody as JobBody, type Stack } from '../helpers/stack.js';
import { readBack, seedTenant, tenantCsvViaCopy } from '../helpers/data.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const ROWS = 60_000;
const PART_ROWS = 5000;

let minio: Minio;
let stack: Stack;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  minio = await startMinio(inject('scratchDir'));
  const env = { ...minio.env, EXPORT_PART_ROWS: String(PART_ROWS), EXPORT_MAX_ROWS_PER_SEC: '15000' };
  stack = await startStack({ queues: ['jobs'], env });
  workers = await Promise.all([
    startWorkerProcess(['exports'], stack.childEnv),
    startWorkerProcess(['exports'], stack.childEnv),
  ]);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.stop();
  await minio?.stop();
});

async function keys(prefix: string): Promise<string[]> {
  const page = await minio.client.send(new ListObjectsV2Command({ Bucket: minio.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

async function pendingUploads(): Promise<number> {
  const res = await minio.client.send(new ListMultipartUploadsCommand({ Bucket: minio.bucket }));
  return res.Uploads?.length ?? 0;
}

describe('S3 storage', () => {
  it('stores parts as objects, publishes atomically, resumes a killed export and cleans up', async () => {
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

    // Mid-way: parts are objects in the bucket, and no result object exists yet.
    await eventually(async () => ((await job()).progress.done >= ROWS / 4 ? true : undefined), 60_000, 50);
    expect((await keys(`parts/${id}/`)).length).toBeGreaterThan(0);
    expect(await keys(`objects/${id}/`)).toEqual([]);

    const [first] = await listAttempts(stack.database.db, id);
    const victim = workers.find((w) => first?.worker === `${os.hostname()}:${w.pid}`);
    expect(victim).toBeDefined();
    await victim!.kill();

    const final = await eventually(
      async () => {
        const b = await job();
        return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
      },
      120_000,
      200,
    );
    expect(final.state).toBe('succeeded');
    const attempts = await listAttempts(stack.database.db, id);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(attempts[1]!.resumedFromRows).toBeGreaterThan(0);
    expect(attempts[1]!.rowsRead).toBe(ROWS - attempts[1]!.resumedFromRows);

    const download = Buffer.from(await (await call(`/v1/jobs/${id}/download`)).arrayBuffer());
    const expected = await tenantCsvViaCopy(stack.database.sql, tenant);
    expect(createHash('sha256').update(download).digest('hex')).toBe(
      createHash('sha256').update(expected).digest('hex'),
    );
    expect(await keys(`objects/${id}/`)).toHaveLength(1);
    await eventually(async () => ((await keys(`parts/${id}/`)).length === 0 ? true : undefined), 10_000);
    expect(await pendingUploads()).toBe(0);
  });

  it('serves an XLSX from the bucket that openpyxl reads', async () => {
    const tenant = await seedTenant(stack.database.sql, 3000);
    const { key } = await stack.newUser(tenant);
    const call = api(stack, key);
    const res = await call('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'xlsx' }),
    });
    const created = (await res.json()) as JobBody;
    expect(res.status, JSON.stringify(created)).toBe(202);
    const done = await eventually(async () => {
      const b = (await (await call(`/v1/jobs/${created.id}`)).json()) as JobBody;
      return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
    }, 60_000);
    expect(done.state).toBe('succeeded');
    const file = `${stack.storageDir}/s3-${created.id}.xlsx`;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, Buffer.from(await (await call(`/v1/jobs/${created.id}/download`)).arrayBuffer()));
    const sheets = (await readBack('xlsx', file)) as { rows: string[][] }[];
    expect(sheets[0]!.rows).toHaveLength(3001);
  });
});
