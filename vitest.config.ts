import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/setup/summary-reporter.ts'],
    // The Temporal native bridge is unsafe in worker threads; forks is vitest's default, kept explicit.
    pool: 'forks',
    testTimeout: 60_000,
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
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/infra/**/*.test.ts'],
          globalSetup: ['./test/setup/global.ts'],
          // Files share one Temporal server and the fixed task queues `jobs`/`exports`/`audio`, so they
          // run one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
