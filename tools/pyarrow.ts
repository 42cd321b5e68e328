// pyarrow, the independent Parquet reader of the e2e format tests (test/helpers/read-back.py): a
// virtual environment in the setup cache, installed by pip in hash-checking mode from
// tools/pyarrow-requirements.txt (every file pinned by version and sha256), as tools/schemathesis.ts
// does. A venv cannot be moved once made (its scripts name its own path), so it is made in place and
// counts as provisioned only once its marker is written, after pip and `import pyarrow` succeeded; a
// half-made one is removed and redone.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './binaries.js';
import { isExecutableFile } from './wheels.js';

export const PYARROW_VERSION = '26.0.1';

/** The lock file: pyarrow and numpy, pinned by version and sha256. */
export const PYARROW_REQUIREMENTS = fileURLToPath(new URL('./pyarrow-requirements.txt', import.meta.url));

/** A Python interpreter that imports pyarrow, instead of the provisioned venv's. */
const ENV_VAR = 'PYARROW_PYTHON';

/** `<cache>/pyarrow-26.0.1`, the virtual environment. */
export function pyarrowVenv(): string {
  return path.join(cacheDir(), `pyarrow-${PYARROW_VERSION}`);
}

const marker = () => path.join(pyarrowVenv(), '.offload-provisioned');
const cachedPython = () => path.join(pyarrowVenv(), 'bin', 'python');

/** The lock file's sha256: a changed lock makes the venv stale. */
function lockHash(): string {
  return createHash('sha256').update(readFileSync(PYARROW_REQUIREMENTS)).digest('hex');
}

function provisioned(): boolean {
  try {
    return readFileSync(marker(), 'utf8').trim() === lockHash() && isExecutableFile(cachedPython());
  } catch {
    return false;
  }
}

/** PYARROW_PYTHON (if executable), else the provisioned venv's `python`; never installs. */
export function findPyarrowPython(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env[ENV_VAR];
  if (fromEnv && isExecutableFile(fromEnv)) return fromEnv;
  return provisioned() ? cachedPython() : undefined;
}

export function requirePyarrowPython(): string {
  const found = findPyarrowPython();
  if (found) return found;
  throw new Error(
    `pyarrow ${PYARROW_VERSION} not found: looked at $${ENV_VAR} and ${cachedPython()}. ` +
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

export interface PyarrowResult {
  path: string;
  source: 'override' | 'cache' | 'installed';
  version: string;
}

/**
 * The pinned pyarrow, installed into the cache when missing: `python3 -m venv`, then pip with
 * `--require-hashes --only-binary=:all:` from the lock file. `$PYTHON` names the interpreter (3.11).
 * Throws an Error whose message says what failed and what to do.
 */
export async function ensurePyarrow(env: NodeJS.ProcessEnv = process.env): Promise<PyarrowResult> {
  const fix = `or set ${ENV_VAR} to a Python that imports pyarrow ${PYARROW_VERSION}`;
  const fromEnv = env[ENV_VAR];
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) throw new Error(`$${ENV_VAR}=${fromEnv} is not an executable file`);
    return { path: fromEnv, source: 'override', version: await version(fromEnv, false) };
  }
  if (provisioned()) return { path: cachedPython(), source: 'cache', version: await version(cachedPython()) };

  const venv = pyarrowVenv();
  if (existsSync(venv)) await fs.rm(venv, { recursive: true, force: true });
  await fs.mkdir(path.dirname(venv), { recursive: true });
  const python = env.PYTHON || 'python3';
  try {
    const made = await run(python, ['-m', 'venv', venv]);
    if (made.code !== 0)
      throw new Error(
        `\`${python} -m venv\` failed (${lastLine(made.output)}); install Python 3.11 with venv, ${fix}`,
      );
    const pip = await run(path.join(venv, 'bin', 'python'), [
      ...['-m', 'pip', 'install', '--require-hashes', '--only-binary=:all:'],
      ...['--no-cache-dir', '--disable-pip-version-check', '--no-input', '--quiet'],
      ...['--retries', '2', '--timeout', '30', '-r', PYARROW_REQUIREMENTS],
    ]);
    if (pip.code !== 0)
      throw new Error(
        `pip install of ${path.basename(PYARROW_REQUIREMENTS)} failed (${lastLine(pip.output)}); ${fix}`,
      );
    const v = await version(cachedPython());
    await fs.writeFile(marker(), `${lockHash()}\n`);
    return { path: cachedPython(), source: 'installed', version: v };
  } catch (err) {
    // Nothing half-made stays behind to be taken for an installed one.
    await fs.rm(venv, { recursive: true, force: true });
    throw err;
  }
}

/** The version `import pyarrow` reports; the one provisioned here must be the pinned version. */
async function version(python: string, pinned = true): Promise<string> {
  const res = await run(python, ['-c', 'import pyarrow; print("pyarrow", pyarrow.__version__)']);
  const out = res.output.trim();
  if (res.code !== 0 || (pinned && out !== `pyarrow ${PYARROW_VERSION}`))
    throw new Error(
      `${python} -c "import pyarrow" said "${out || `exit ${res.code}`}", not ${PYARROW_VERSION}`,
    );
  return out;
}
