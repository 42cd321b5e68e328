/**
 * The first impression, timed: a fresh clone of this repository's HEAD, empty npm and offload caches,
 * then `npm ci` and `npm run dev` until it prints "offload is running"; then Ctrl-C (SIGINT) and the
 * time it takes to stop. Debian packages are not removed: to time a machine without the speech tools,
 * purge them first (`apt-get purge -y espeak-ng lame ffmpeg && apt-get autoremove -y && apt-get clean`).
 *
 *   npx tsx bench/cold-start.ts [--keep]      (--keep leaves the clone and caches for a look)
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false } }, strict: true });

const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-cold-'));
// As root, embedded PostgreSQL runs as the OS user postgres, which must reach the clone's .data/.
await fs.chmod(scratch, 0o755);
const clone = path.join(scratch, 'offload');
execFileSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone]);
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: clone }).toString().trim();
const env = {
  ...process.env,
  XDG_CACHE_HOME: path.join(scratch, 'cache'),
  npm_config_cache: path.join(scratch, 'npm-cache'),
  // The dev ports may be taken by another stack on this machine; dev falls back to free ones.
  NO_COLOR: '1',
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const started = performance.now();
execFileSync('npm', ['ci', '--no-audit', '--no-fund'], {
  cwd: clone,
  env,
  stdio: ['ignore', 'ignore', 'inherit'],
});
const npmCi = performance.now() - started;

const devStarted = performance.now();
// In a process group of its own, so that the stop below reaches it as a terminal's Ctrl-C does: every
// process of the group gets SIGINT (npm does not relay a signal sent to it alone).
const dev = spawn('npm', ['run', 'dev'], {
  cwd: clone,
  env,
  stdio: ['ignore', 'pipe', 'pipe'],
  detached: true,
});
let output = '';
const running = await new Promise<boolean>((resolve) => {
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('offload is running')) resolve(true);
  };
  dev.stdout.on('data', onData);
  dev.stderr.on('data', onData);
  dev.once('exit', () => resolve(false));
});
const devMs = performance.now() - devStarted;
const stopStarted = performance.now();
process.kill(-dev.pid!, 'SIGINT');
await new Promise((resolve) => (dev.exitCode === null ? dev.once('exit', resolve) : resolve(undefined)));
const stopMs = performance.now() - stopStarted;

if (!running) {
  console.error(`npm run dev exited before "offload is running":\n${output}`);
  process.exitCode = 1;
} else {
  const setupLine = output.split('\n').find((line) => line.startsWith('setup done')) ?? '(no setup line)';
  console.log(`commit ${commit}, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}`);
  console.log(`| step | time |\n| --- | --- |`);
  console.log(`| npm ci (empty npm cache) | ${seconds(npmCi)} |`);
  console.log(`| npm run dev until "offload is running" | ${seconds(devMs)} |`);
  console.log(`| total | ${seconds(npmCi + devMs)} |`);
  console.log(`| Ctrl-C until every process stopped | ${seconds(stopMs)} |`);
  console.log(setupLine);
}
if (!values.keep) await fs.rm(scratch, { recursive: true, force: true });
else console.log(`kept ${scratch}`);
