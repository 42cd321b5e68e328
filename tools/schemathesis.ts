// schemathesis, the OpenAPI property-based tester that test/e2e/schemathesis.test.ts runs against the
// API: a Python package with some twenty dependencies, so not one executable in a wheel (tools/wheels.ts)
// but a virtual environment in the setup cache, installed by pip in hash-checking mode from
// tools/schemathesis-requirements.txt (every file pinned by version and sha256). A venv cannot be moved
// once made (its scripts name its own path), so it is made in place and counts as provisioned only once
// its marker is written, after pip and `st --version` succeeded; a half-made one is removed and redone.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './binaries.js';
import { isExecutableFile } from './wheels.js';

export const SCHEMATHESIS_VERSION = '4.32.5';

/** The lock file: schemathesis and its dependencies, pinned by version and sha256. */
export const SCHEMATHESIS_REQUIREMENTS = fileURLToPath(
  new URL('./schemathesis-requirements.txt', import.meta.url),
);

const ENV_VAR = 'SCHEMATHESIS_PATH';

/** `<cache>/schemathesis-4.32.5`, the virtual environment. */
export function schemathesisVenv(): string {
  return path.join(cacheDir(), `schemathesis-${SCHEMATHESIS_VERSION}`);
}

const marker = () => path.join(schemathesisVenv(), '.offload-provisioned');
const cachedSt = () => path.join(schemathesisVenv(), 'bin', 'st');

/** The lock file's sha256: a changed lock makes the venv stale. */
function lockHash(): string {
  return createHash('sha256').update(readFileSync(SCHEMATHESIS_REQUIREMENTS)).digest('hex');
}

function provisioned(): boolean {
  try {
    return readFileSync(marker(), 'utf8').trim() === lockHash() && isExecutableFile(cachedSt());
  } catch {
    return false;
  }
}

/** SCHEMATHESIS_PATH (if executable), else the provisioned venv's `st`; never installs. */
export function findSchemathesis(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env[ENV_VAR];
  if (fromEnv && isExecutableFile(fromEnv)) return fromEnv;
  return provisioned() ? cachedSt() : undefined;
}

export function requireSchemathesis(): string {
  const found = findSchemathesis();
  if (found) return found;
  throw new Error(
    `schemathesis ${SCHEMATHESIS_VERSION} not found: looked at $${ENV_VAR} and ${cachedSt()}. ` +
      'Run `npm run setup -- --for test`.',
  );
}

async function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8192);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return new Promise((resolve) => {
    child.once('error', (err) => resolve({ code: null, output: err.message }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

const lastLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .reverse()
    .find((l) => l.startsWith('ERROR:')) ??
  text.trim().split('\n').at(-1) ??
  '';

export interface SchemathesisResult {
  path: string;
  source: 'override' | 'cache' | 'installed';
  version: string;
}

/**
 * The pinned schemathesis, installed into the cache when missing: `python3 -m venv`, then pip with
 * `--require-hashes --only-binary=:all:` from the lock file. `$PYTHON` names the interpreter (3.11+).
 * Throws an Error whose message says what failed and what to do.
 */
export async function ensureSchemathesis(env: NodeJS.ProcessEnv = process.env): Promise<SchemathesisResult> {
  const fix = `or set ${ENV_VAR} to a schemathesis ${SCHEMATHESIS_VERSION} \`st\``;
  const fromEnv = env[ENV_VAR];
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) throw new Error(`$${ENV_VAR}=${fromEnv} is not an executable file`);
    return { path: fromEnv, source: 'override', version: await version(fromEnv, false) };
  }
  if (provisioned()) return { path: cachedSt(), source: 'cache', version: await version(cachedSt()) };

  const venv = schemathesisVenv();
  if (existsSync(venv)) await fs.rm(venv, { recursive: true, force: true });
  await fs.mkdir(path.dirname(venv), { recursive: true });
  const python = env.PYTHON || 'python3';
  try {
    const made = await run(python, ['-m', 'venv', venv]);
    if (made.code !== 0)
      throw new Error(
        `\`${python} -m venv\` failed (${lastLine(made.output)}); install Python 3.11+ with venv, ${fix}`,
      );
    const pip = await run(path.join(venv, 'bin', 'python'), [
      ...['-m', 'pip', 'install', '--require-hashes', '--only-binary=:all:'],
      ...['--no-cache-dir', '--disable-pip-version-check', '--no-input', '--quiet'],
      ...['--retries', '2', '--timeout', '30', '-r', SCHEMATHESIS_REQUIREMENTS],
    ]);
    if (pip.code !== 0)
      throw new Error(
        `pip install of ${path.basename(SCHEMATHESIS_REQUIREMENTS)} failed (${lastLine(pip.output)}); ${fix}`,
      );
    const v = await version(cachedSt());
    await fs.writeFile(marker(), `${lockHash()}\n`);
    return { path: cachedSt(), source: 'installed', version: v };
  } catch (err) {
    // Nothing half-made stays behind to be taken for an installed one.
    await fs.rm(venv, { recursive: true, force: true });
    throw err;
  }
}

/** What `st --version` says; the one provisioned here must name the pinned version. */
async function version(st: string, pinned = true): Promise<string> {
  const res = await run(st, ['--version']);
  const out = res.output.trim();
  if (res.code !== 0 || (pinned && !out.includes(SCHEMATHESIS_VERSION)))
    throw new Error(`${st} --version said "${out || `exit ${res.code}`}", not ${SCHEMATHESIS_VERSION}`);
  return out;
}
