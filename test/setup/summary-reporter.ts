/**
 * Prints the plain closing line CI reads, `N passed, N failed`, and writes it to .data/test-summary.txt.
 * A file that fails to load or a hook that fails counts as a failure even when it ran no test.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<unknown>,
    reason: 'passed' | 'interrupted' | 'failed',
  ): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const mod of modules) {
      let moduleFailedTests = 0;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') moduleFailedTests++;
        else skipped++;
      }
      failed += moduleFailedTests;
      if (moduleFailedTests === 0 && (mod.errors().length > 0 || mod.state() === 'failed')) failed++;
    }
    // A run that failed outside any test (global setup, collection) still has to read as failed.
    if (reason !== 'passed' && failed === 0) failed = 1;
    const line = `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
    fs.mkdirSync(path.resolve('.data'), { recursive: true });
    fs.writeFileSync(path.resolve('.data/test-summary.txt'), `${line}\n`);
    process.stdout.write(`\n${line}\n`);
  }
}
