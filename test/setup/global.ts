/**
 * vitest globalSetup of the `e2e` project: one Temporal dev server, one embedded PostgreSQL (migrated)
 * and one workflow bundle for the whole run, handed to test files through provide/inject; stopped after
 * the run. The `workflows` project uses `workflowsSetup` below: the same minus the Temporal dev server
 * (its tests run their own time-skipping test server).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { migrateDatabase } from '../../src/db/migrate.js';
import { startEmbeddedPostgres } from '../../tools/postgres.js';
import { startTemporalDevServer } from '../../tools/temporal.js';
import { WORKFLOWS_PATH } from '../../src/worker/create-workers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    temporalAddress: string;
    workflowBundlePath: string;
    scratchDir: string;
  }
}

async function startServices(project: TestProject, opts: { temporal: boolean }) {
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-test-'));
  // Embedded PostgreSQL runs as the OS user `postgres` when we are root: it must reach its data dir.
  await fs.chmod(scratch, 0o755);
  const externalDb = process.env.TEST_DATABASE_URL;
  const [pg, temporal, bundle] = await Promise.all([
    externalDb ? undefined : startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg') }),
    opts.temporal ? startTemporalDevServer({ uiPort: false }) : undefined,
    bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    }),
  ]);
  const databaseUrl = externalDb ?? pg!.url;
  await migrateDatabase(databaseUrl);
  const bundlePath = path.join(scratch, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, bundle.code);

  project.provide('databaseUrl', databaseUrl);
  if (temporal) project.provide('temporalAddress', temporal.address);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('scratchDir', scratch);

  return async () => {
    await temporal?.stop();
    await pg?.stop();
    await fs.rm(scratch, { recursive: true, force: true });
  };
}

export default function setup(project: TestProject) {
  return startServices(project, { temporal: true });
}

export function workflowsSetup(project: TestProject) {
  return startServices(project, { temporal: false });
}
