// Locates the external tools that tests and local runs need. They are provisioned by
// `npm run setup` into a per-user cache so that a fresh clone never downloads at test time.
// src/infra is tooling, so it reads the environment directly instead of going through src/config.
import { accessSync, constants, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEMPORAL_CLI_VERSION = '1.5.1';
/** Maven version of io.temporal:temporal-test-server (the Java time-skipping server). */
export const TEST_SERVER_VERSION = '1.38.0';

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

/** Directory holding the Temporal CLI built by `npm run setup`. */
export function temporalCliCacheDir(): string {
  return path.join(cacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}`);
}

/** Directory holding the Java test server jars, its CDS archive and run.sh. */
export function testServerCacheDir(): string {
  return path.join(cacheDir(), `temporal-test-server-${TEST_SERVER_VERSION}`);
}

export function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
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

/** TEMPORAL_CLI_PATH (if executable), then `temporal` on PATH, then the setup cache. */
export function findTemporalCli(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv && isExecutableFile(fromEnv)) return fromEnv;
  const cached = path.join(temporalCliCacheDir(), 'temporal');
  return which('temporal') ?? (isExecutableFile(cached) ? cached : undefined);
}

/** TEMPORAL_TEST_SERVER_PATH (if executable), then the setup cache's run.sh. */
export function findTestServer(): string | undefined {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  if (fromEnv && isExecutableFile(fromEnv)) return fromEnv;
  const cached = path.join(testServerCacheDir(), 'run.sh');
  return isExecutableFile(cached) ? cached : undefined;
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
    `MinIO not found: looked at $MINIO_PATH and ${path.join(minioCacheDir(), 'minio')}. Run \`npm run setup\`.`,
  );
}

export function requireTemporalCli(): string {
  const found = findTemporalCli();
  if (found) return found;
  throw new Error(
    `Temporal CLI ${TEMPORAL_CLI_VERSION} not found: looked at $TEMPORAL_CLI_PATH` +
      `${process.env.TEMPORAL_CLI_PATH ? ` (${process.env.TEMPORAL_CLI_PATH}, not executable)` : ' (unset)'}, ` +
      `\`temporal\` on PATH and ${path.join(temporalCliCacheDir(), 'temporal')}. Run \`npm run setup\`.`,
  );
}

export function requireTestServer(): string {
  const found = findTestServer();
  if (found) return found;
  const fromEnv = process.env.TEMPORAL_TEST_SERVER_PATH;
  throw new Error(
    `Temporal time-skipping test server ${TEST_SERVER_VERSION} not found: looked at $TEMPORAL_TEST_SERVER_PATH` +
      `${fromEnv ? ` (${fromEnv}, not executable)` : ' (unset)'} and ${path.join(testServerCacheDir(), 'run.sh')}. ` +
      'Run `npm run setup`.',
  );
}

/** Version of github.com/compose-spec/compose-go whose schema/compose-spec.json checks docker-compose.yml. */
export const COMPOSE_GO_VERSION = '2.16.2';

/** The Compose specification's JSON schema, fetched from the Go module proxy by `npm run setup`. */
export function composeSpecPath(): string {
  return path.join(cacheDir(), `compose-spec-${COMPOSE_GO_VERSION}`, 'compose-spec.json');
}
