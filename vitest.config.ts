import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/setup/global.ts'],
    reporters: ['default', './test/setup/summary-reporter.ts'],
    // The Temporal native bridge is unsafe in worker threads; forks is vitest's default, kept explicit.
    pool: 'forks',
    // Files share one Temporal server and the fixed task queues `jobs`/`exports`, so they run one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
