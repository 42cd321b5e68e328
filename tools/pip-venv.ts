// A Python tool as a virtual environment in the setup cache, installed by pip in hash-checking mode from
// a lock file (every file pinned by version and sha256): what tools/schemathesis.ts and tools/pyarrow.ts
// provision. A venv cannot be moved once made (its scripts name its own path), so it is made in place
// and counts as provisioned only once its marker (the lock file's sha256) is written, after pip and the
// tool's version check succeeded; a half-made one is removed and redone.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from './binaries.js';
import { isExecutableFile } from './wheels.js';

export interface PinnedVenvSpec {
  /** The tool's name, in the venv's folder name and in messages (`schemathesis`). */
  name: string;
  version: string;
  /** The lock file. */
  requirements: string;
  /** The variable naming an executable to use instead of the venv's. */
  envVar: string;
  /** The venv's executable the tool is used through (`st`, `python`), in its `bin`. */
  executable: string;
  /** What `envVar` should name, for messages (`a schemathesis 4.32.5 \`st\``). */
  override: string;
  /** The Python the venv needs, for messages (`3.11+`). */
  python: string;
  /** How the tool reports its version: the arguments, their text in messages, and whether an output is the pinned version. */
  versionCheck: { args: string[]; shown: string; pinned: (output: string) => boolean };
}

export interface PinnedVenvResult {
  path: string;
  source: 'override' | 'cache' | 'installed';
  version: string;
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

export function pinnedVenv(spec: PinnedVenvSpec) {
  /** `<cache>/<name>-<version>`, the virtual environment. */
  const venv = () => path.join(cacheDir(), `${spec.name}-${spec.version}`);
  const marker = () => path.join(venv(), '.offload-provisioned');
  const cached = () => path.join(venv(), 'bin', spec.executable);
  // The lock file's sha256: a changed lock makes the venv stale.
  const lockHash = () => createHash('sha256').update(readFileSync(spec.requirements)).digest('hex');

  function provisioned(): boolean {
    try {
      return readFileSync(marker(), 'utf8').trim() === lockHash() && isExecutableFile(cached());
    } catch {
      return false;
    }
  }

  /** What the version check says; the one provisioned here must be the pinned version. */
  async function version(exe: string, pinned = true): Promise<string> {
    const res = await run(exe, spec.versionCheck.args);
    const out = res.output.trim();
    if (res.code !== 0 || (pinned && !spec.versionCheck.pinned(out)))
      throw new Error(
        `${exe} ${spec.versionCheck.shown} said "${out || `exit ${res.code}`}", not ${spec.version}`,
      );
    return out;
  }

  /** `envVar` (if executable), else the provisioned venv's executable; never installs. */
  function find(env: NodeJS.ProcessEnv = process.env): string | undefined {
    const fromEnv = env[spec.envVar];
    if (fromEnv && isExecutableFile(fromEnv)) return fromEnv;
    return provisioned() ? cached() : undefined;
  }

  function require(): string {
    const found = find();
    if (found) return found;
    throw new Error(
      `${spec.name} ${spec.version} not found: looked at $${spec.envVar} and ${cached()}. ` +
        'Run `npm run setup -- --for test`.',
    );
  }

  /**
   * The pinned tool, installed into the cache when missing: `python3 -m venv`, then pip with
   * `--require-hashes --only-binary=:all:` from the lock file. `$PYTHON` names the interpreter.
   * Throws an Error whose message says what failed and what to do.
   */
  async function ensure(env: NodeJS.ProcessEnv = process.env): Promise<PinnedVenvResult> {
    const fix = `or set ${spec.envVar} to ${spec.override}`;
    const fromEnv = env[spec.envVar];
    if (fromEnv) {
      if (!isExecutableFile(fromEnv)) throw new Error(`$${spec.envVar}=${fromEnv} is not an executable file`);
      return { path: fromEnv, source: 'override', version: await version(fromEnv, false) };
    }
    if (provisioned()) return { path: cached(), source: 'cache', version: await version(cached()) };

    const dir = venv();
    if (existsSync(dir)) await fs.rm(dir, { recursive: true, force: true });
    await fs.mkdir(path.dirname(dir), { recursive: true });
    const python = env.PYTHON || 'python3';
    try {
      const made = await run(python, ['-m', 'venv', dir]);
      if (made.code !== 0)
        throw new Error(
          `\`${python} -m venv\` failed (${lastLine(made.output)}); install Python ${spec.python} with venv, ${fix}`,
        );
      const pip = await run(path.join(dir, 'bin', 'python'), [
        ...['-m', 'pip', 'install', '--require-hashes', '--only-binary=:all:'],
        ...['--no-cache-dir', '--disable-pip-version-check', '--no-input', '--quiet'],
        ...['--retries', '2', '--timeout', '30', '-r', spec.requirements],
      ]);
      if (pip.code !== 0)
        throw new Error(
          `pip install of ${path.basename(spec.requirements)} failed (${lastLine(pip.output)}); ${fix}`,
        );
      const v = await version(cached());
      await fs.writeFile(marker(), `${lockHash()}\n`);
      return { path: cached(), source: 'installed', version: v };
    } catch (err) {
      // Nothing half-made stays behind to be taken for an installed one.
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  return { venv, find, require, ensure };
}
