import { defineConfig } from 'vitest/config';

/** e2e files that run alone (project `e2e-serial`), after everything else. */
const SERIAL_E2E = [
  'test/e2e/audio-failover.test.ts',
  'test/e2e/audio-piper-failover.test.ts',
  'test/e2e/deploy.test.ts',
  'test/e2e/failover-formats.test.ts',
  'test/e2e/failover.test.ts',
  'test/e2e/fairness.test.ts',
  'test/e2e/isolation.test.ts',
  'test/e2e/pools-isolation.test.ts',
  'test/e2e/pools.test.ts',
  'test/e2e/restarts.test.ts',
  'test/e2e/traces.test.ts',
];

export default defineConfig({
  test: {
    reporters: ['default', './test/setup/summary-reporter.ts'],
    // The Temporal native bridge is unsafe in worker threads; forks is vitest's default, kept explicit.
    pool: 'forks',
    testTimeout: 60_000,
    // Two files at a time even on two cores: e2e files mostly wait on servers, timers and retries.
    maxWorkers: 2,
    // Every project not given a later group runs in group 0, side by side.
    sequence: { groupOrder: 0 },
    hookTimeout: 120_000,
    projects: [
      {
        // No servers and no global setup: `npm run test:unit` takes seconds.
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        // Time-skipping workflow tests: each file starts its own native test server; PostgreSQL and the
        // workflow bundle come from the global setup (no Temporal dev server).
        extends: true,
        test: {
          name: 'workflows',
          include: ['test/workflows/**/*.test.ts'],
          globalSetup: ['./test/setup/workflows.ts'],
        },
      },
      {
        // The real stack: one Temporal dev server, one PostgreSQL and one workflow bundle for the run.
        // Files run side by side: each stack has its own database (a copy of the migrated template)
        // and its own task queues (TASK_QUEUE_PREFIX) on the one Temporal server.
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/infra/**/*.test.ts'],
          exclude: SERIAL_E2E,
          globalSetup: ['./test/setup/global.ts'],
        },
      },
      {
        // After the rest, one file at a time: these kill processes inside timing windows or compare
        // how fast one pool drains against another, which CPU taken by another file would blur.
        extends: true,
        test: {
          name: 'e2e-serial',
          include: SERIAL_E2E,
          globalSetup: ['./test/setup/global.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
