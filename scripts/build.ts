/**
 * `npm run build`: the production build in dist/ (or `--out-dir DIR`). Compiles src/ with
 * tsconfig.build.json (source maps beside the code), copies the files src/ loads at run time that are
 * not TypeScript (the dashboard's script and stylesheet), and writes the workflow bundle that
 * production workers load instead of bundling at start (dist/workflow-bundle.js). The output is built
 * in a temporary folder beside the target and renamed into place, so a failed build leaves the
 * previous dist/ whole.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../src/worker/workflow-interceptors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Folders under src/ whose files are read at run time, copied as they are. */
const ASSET_DIRS = ['server/dashboard/assets'];

const { values } = parseArgs({ options: { 'out-dir': { type: 'string' } }, strict: true });
const outDir = path.resolve(values['out-dir'] ?? path.join(ROOT, 'dist'));
await fs.mkdir(path.dirname(outDir), { recursive: true });
const staging = await fs.mkdtemp(`${outDir}.build-`);
try {
  const started = performance.now();
  const tsc = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      staging,
    ],
    { stdio: 'inherit' },
  );
  if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json exited with ${tsc.status ?? tsc.signal}`);
  for (const dir of ASSET_DIRS) {
    await fs.cp(path.join(ROOT, 'src', dir), path.join(staging, dir), { recursive: true });
  }
  // From the sources (the bundler compiles them itself), so packages resolve from this repository
  // whatever folder the output goes to.
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(ROOT, 'src', 'workflows', 'index.ts'),
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  await fs.writeFile(path.join(staging, 'workflow-bundle.js'), code);
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.rename(staging, outDir);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `built ${path.relative(process.cwd(), outDir) || '.'} in ${seconds} s (workflow bundle ${(code.length / 1024).toFixed(0)} KiB)`,
  );
} finally {
  await fs.rm(staging, { recursive: true, force: true });
}
