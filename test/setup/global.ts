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
import postgres from 'postgres';
import { migrateDatabase } from '../../src/db/migrate.js';
import { databaseUrlFor } from '../helpers/stack-database.js';
import { startEmbeddedPostgres } from '../../tools/postgres.js';
import { startTemporalDevServer } from '../../tools/temporal.js';
import { WORKFLOWS_PATH } from '../../src/worker/create-workers.js';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../src/worker/workflow-interceptors.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    /** A migrated database nobody connects to, which each test stack copies (test/helpers/stack-database.ts). */
    templateDatabase: string;
    temporalAddress: string;
    workflowBundlePath: string;
    scratchDir: string;
  }
}

/**
 * A copy of the just-migrated database, which each test stack copies in turn (nothing connects to it, as
 * PostgreSQL requires of a template); made from the server's maintenance database `postgres`.
 */
async function createTemplate(databaseUrl: string): Promise<string> {
  const name = 'offload_stack_template';
  const source = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  const admin = postgres(databaseUrlFor(databaseUrl, 'postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.unsafe(`create database "${name}" template "${source}"`);
    return name;
  } finally {
    await admin.end({ timeout: 5 });
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
      workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
    }),
  ]);
  const databaseUrl = externalDb ?? pg!.url;
  await migrateDatabase(databaseUrl);
  const templateDatabase = await createTemplate(databaseUrl);
  const bundlePath = path.join(scratch, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, bundle.code);

  project.provide('databaseUrl', databaseUrl);
  project.provide('templateDatabase', templateDatabase);
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
