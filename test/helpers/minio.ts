/** A real S3-compatible server for tests: MinIO (provisioned by `npm run setup`) on a free port. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../tools/ports.js';
import { OutputTail } from '../../tools/output-tail.js';
import { requireMinio } from '../../tools/binaries.js';

export interface Minio {
  endpoint: string;
  bucket: string;
  env: Record<string, string>;
  client: S3Client;
  stop(): Promise<void>;
}

export async function startMinio(scratchDir: string): Promise<Minio> {
  const dataDir = path.join(scratchDir, `minio-${randomUUID()}`);
  await fs.mkdir(dataDir, { recursive: true });
  const port = await freePort();
  const consolePort = await freePort();
  const user = 'offload-test';
  const password = randomUUID();
  const tail = new OutputTail();
  const child = spawn(
    requireMinio(),
    [
      'server',
      dataDir,
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      '--quiet',
    ],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        MINIO_ROOT_USER: user,
        MINIO_ROOT_PASSWORD: password,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', (c: Buffer) => tail.push(c));
  child.stderr.on('data', (c: Buffer) => tail.push(c));
  const exited = once(child, 'exit');
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${endpoint}/minio/health/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`MinIO did not become ready on ${endpoint}:\n${tail.text()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const bucket = 'offload-test';
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: user, secretAccessKey: password },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    env: {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: user,
      S3_SECRET_ACCESS_KEY: password,
    },
    async stop() {
      client.destroy();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
