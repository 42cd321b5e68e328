// Smoke test for the provisioned tools: fails fast with "run npm run setup" when something is missing,
// and proves the Java test server starts inside the SDK's fixed 5 s window.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/infra/postgres.js';
import { startTemporalDevServer } from '../../src/infra/temporal.js';
import { requireTemporalCli, requireTestServer } from '../../src/infra/tools.js';

const TIMEOUT = 60_000;

describe('provisioned tools', () => {
  it('finds the Temporal CLI and the test server', () => {
    expect(requireTemporalCli()).toMatch(/temporal$/);
    expect(requireTestServer()).toBeTruthy();
  });

  it(
    'runs embedded PostgreSQL on a free port',
    async () => {
      const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-infra-'));
      // As root, postgres runs as the OS user "postgres", which must be able to enter the temp dir.
      await fs.chmod(scratch, 0o755);
      const pg = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg') });
      try {
        expect(pg.url).toBe(`postgres://postgres:postgres@127.0.0.1:${pg.port}/offload`);
        const sql = postgres(pg.url, { max: 1 });
        try {
          const rows = await sql<{ one: number }[]>`select 1 as one`;
          expect(rows[0]?.one).toBe(1);
        } finally {
          await sql.end();
        }
      } finally {
        await pg.stop();
        await fs.rm(scratch, { recursive: true, force: true });
      }
    },
    TIMEOUT,
  );

  it(
    'starts the Temporal dev server with a custom search attribute',
    async () => {
      const server = await startTemporalDevServer({
        uiPort: false,
        searchAttributes: { OffloadKind: 'Keyword' },
      });
      try {
        const connection = await Connection.connect({ address: server.address });
        try {
          const { customAttributes } = await connection.operatorService.listSearchAttributes({
            namespace: 'default',
          });
          expect(Object.keys(customAttributes)).toContain('OffloadKind');
        } finally {
          await connection.close();
        }
      } finally {
        await server.stop();
      }
    },
    TIMEOUT,
  );

  it(
    'starts the time-skipping test server within the SDK start-up window',
    async () => {
      const env = await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: requireTestServer() } },
      });
      try {
        expect(env.supportsTimeSkipping).toBe(true);
        const before = await env.currentTimeMs();
        await env.sleep('1 day');
        expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(86_400_000);
      } finally {
        await env.teardown();
      }
    },
    TIMEOUT,
  );
});
