// Smoke test for the provisioned tools: fails fast with "run npm run setup" when something is missing,
// checks the pinned versions, and proves the native test server starts well inside the SDK's fixed 5 s
// window (it polls every 100 ms and gives up after 50 attempts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../tools/postgres.js';
import { startTemporalDevServer } from '../../tools/temporal.js';
import {
  HADOLINT_VERSION,
  requireHadolint,
  requireTemporalCli,
  requireTestServer,
} from '../../tools/binaries.js';

const TIMEOUT = 60_000;

describe('provisioned tools', () => {
  it('finds the pinned Temporal CLI, the test server and hadolint', () => {
    const cli = requireTemporalCli();
    expect(cli).toMatch(/temporal$/);
    // Not pinned to TEMPORAL_CLI_VERSION: TEMPORAL_CLI_PATH or setup's go-installed fallback may differ.
    expect(execFileSync(cli, ['--version'], { encoding: 'utf8' })).toMatch(/^temporal version \d/);
    expect(requireTestServer()).toMatch(/temporal-test-server$/);
    expect(execFileSync(requireHadolint(), ['--version'], { encoding: 'utf8' })).toContain(HADOLINT_VERSION);
  });

  it(
    'runs embedded PostgreSQL on a free port',
    async () => {
      const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-infra-'));
      // As root, postgres runs as the OS user "postgres", which must be able to enter the temp dir.
      await fs.chmod(scratch, 0o755);
      const exitListeners = process.listeners('beforeExit').length + process.listeners('exit').length;
      const pg = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg') });
      try {
        // The package's exit hooks would call process.exit(0) before the runner's exit: a failing run
        // would exit 0 (tools/postgres.ts removes them).
        expect(process.listeners('beforeExit').length + process.listeners('exit').length).toBe(exitListeners);
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
    'starts the native time-skipping test server well within the SDK start-up window',
    async () => {
      const started = performance.now();
      const env = await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: requireTestServer() } },
      });
      try {
        // The JVM build needed seconds (and a CDS archive); the native one about a tenth of a second.
        // 2 s leaves room for a loaded machine and still catches a regression towards the 5 s limit.
        expect(performance.now() - started).toBeLessThan(2_000);
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
