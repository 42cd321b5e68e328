/**
 * Every setting of offload, read from environment variables and validated once at start-up.
 * This is the only module that reads process.env; entry points pass the parsed object down.
 */
import path from 'node:path';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { ConnectionOptions } from '@temporalio/client';
import { z } from 'zod';

// An empty variable means "not set" (as in `PORT=`), not zero.
const int = (def: number, min = 0) =>
  z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(min).default(def));

const bool = (def: boolean) =>
  z.preprocess(
    (v) => (v === '' || v === undefined ? String(def) : v),
    z
      .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
      .transform((v) => v === 'true' || v === '1'),
  );

/** A task queue's base name, as WORKER_QUEUES and --queues give it. */
export const QUEUE_NAME = /^[A-Za-z0-9._-]{1,100}$/;

const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim().toLowerCase())
      .filter(Boolean),
  );

/** The schema of offload's own variables (Temporal's connection variables are read by envconfig). */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: int(3000, 0).refine((p) => p <= 65535, 'must be a port number (0-65535)'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_URL: z.url().optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')
    .optional(),
  DATABASE_POOL_MAX: int(10, 1),
  /**
   * The database exports read from (the `default` source of the datasets file), apart from offload's
   * own DATABASE_URL; unset: the state database is the source (the demo datasets live there).
   */
  SOURCE_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  /** Connections per source pool of a worker or API process (each source has its own pool). */
  SOURCE_POOL_MAX: int(5, 1),
  /** statement_timeout of a worker's reads from a source, in ms (a COPY of one part must fit); 0: off. */
  SOURCE_STATEMENT_TIMEOUT_MS: int(300_000, 0),
  /** The datasets file (YAML or JSON); unset: the shipped demo, examples/datasets.yaml. */
  DATASETS_FILE: z
    .string()
    .optional()
    .or(z.literal('').transform(() => undefined)),
  /** statement_timeout of the API's connections (not the workers'), in ms; 0 turns it off. */
  API_STATEMENT_TIMEOUT_MS: int(5000, 0),
  /**
   * Largest request body the API reads, in bytes; a larger one is 413 before it is parsed. The default
   * holds the longest audio text (AUDIO_MAX_TEXT_CHARS, 200,000) even when every character takes 3 bytes.
   */
  API_BODY_LIMIT_BYTES: int(1024 * 1024, 1024),
  /**
   * Longest wait of an API request for a Temporal call (a cancel), in ms: past it, or when Temporal cannot
   * be reached, the answer is 503 with Retry-After rather than a request held for the client's retries.
   */
  API_TEMPORAL_TIMEOUT_MS: int(5000, 100),
  STORAGE_DIR: z.string().min(1).default('.data/storage'),
  STORAGE_DRIVER: z.enum(['local', 's3'], { error: 'must be local or s3' }).default('local'),
  S3_BUCKET: z.string().min(1).optional(),
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: z
    .preprocess((v) => (v === '' ? undefined : v), z.enum(['true', 'false']).default('true'))
    .transform((v) => v === 'true'),
  WORKER_QUEUES: z
    .string()
    .default('jobs,exports,audio')
    .transform((s) =>
      s
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean),
    )
    // Which names exist depends on the registered job kinds: the worker checks them (src/worker/queues.ts).
    .pipe(
      z
        .array(z.string().regex(QUEUE_NAME, 'must be queue names (letters, digits, . _ -)'))
        .min(1, 'must name at least one queue, e.g. jobs,exports,audio'),
    ),
  /**
   * Put before every task queue name (`${prefix}jobs`, `${prefix}exports`, …): deployments that share
   * one Temporal namespace, and test stacks that share one server, keep their queues apart.
   */
  TASK_QUEUE_PREFIX: z
    .string()
    .max(100)
    .regex(/^[A-Za-z0-9._-]*$/, 'must be letters, digits, dot, underscore or dash')
    .default(''),
  JOBS_CONCURRENCY: int(50, 1),
  EXPORTS_CONCURRENCY: int(2, 1),
  AUDIO_CONCURRENCY: int(2, 1),
  WORKER_SHUTDOWN_GRACE_MS: int(10_000),
  /** Port on HOST where a worker serves the Temporal SDK's Prometheus metrics; 0 turns them off. */
  WORKER_METRICS_PORT: int(0, 0).refine((p) => p <= 65535, 'must be a port number (0-65535)'),
  LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  WORKFLOW_BUNDLE_PATH: z.string().optional(),
  EXPORT_HEARTBEAT_TIMEOUT_MS: int(10_000, 1000),
  EXPORT_START_TO_CLOSE_TIMEOUT_MS: int(2 * 60 * 60 * 1000, 1000),
  EXPORT_MAX_ATTEMPTS: int(5, 1),
  EXPORT_RETRY_INITIAL_MS: int(1000, 1),
  EXPORT_RETRY_MAX_MS: int(30_000, 1),
  EXPORT_PART_ROWS: int(50_000, 1),
  EXPORT_READ_LANES: int(2, 1),
  EXPORT_MAX_ROWS_PER_SEC: int(0),
  AUDIO_MAX_TEXT_CHARS: int(200_000, 1),
  /**
   * How long a heavy attempt (export, audio) that lost the database waits for it, heartbeating, before it
   * ends, in ms: its retry then starts once the database is back, so an outage costs one attempt, not
   * all of them. 0: the attempt ends at once.
   */
  HEAVY_OUTAGE_WAIT_MS: int(600_000, 0),
  AUDIO_CHUNK_CHARS: int(2000, 50),
  AUDIO_SEGMENT_CHARS: int(20_000, 100),
  AUDIO_PARALLELISM: int(2, 1),
  AUDIO_HEARTBEAT_TIMEOUT_MS: int(10_000, 1000),
  AUDIO_START_TO_CLOSE_TIMEOUT_MS: int(2 * 60 * 60 * 1000, 1000),
  AUDIO_MAX_ATTEMPTS: int(5, 1),
  AUDIO_RETRY_INITIAL_MS: int(1000, 1),
  AUDIO_RETRY_MAX_MS: int(30_000, 1),
  /** Piper voices (`.onnx` + `.onnx.json`); default `<cache>/voices`, where `npm run setup` installs one. */
  VOICES_DIR: z.string().min(1).optional(),
  /** piper-tts's phonemizer (`espeakbridge.so`, `espeak-ng-data/`); default `<cache>/piper-phonemizer-1.8.0`. */
  PIPER_PHONEMIZER_DIR: z.string().min(1).optional(),
  /** The Python 3 (3.9+) that runs Piper's phonemizer. */
  PIPER_PYTHON: z.string().min(1).default('python3'),
  /** Cores Piper inference uses per audio worker process (split between the sentences that can run at once). */
  PIPER_THREADS: int(2, 1),
  /** How long a synthesised sentence is reused by the same tenant's later jobs (same voice, model, settings); 0: off. */
  AUDIO_SENTENCE_CACHE_TTL_MS: int(7 * 24 * 60 * 60 * 1000, 0),
  EXPORT_MAX_ROWS: int(10_000_000),
  EXPORT_RETENTION_MS: int(7 * 24 * 60 * 60 * 1000, 1000),
  /** How long a failed job keeps its parts (and its checkpoint) for a redrive to resume from, in ms. */
  FAILED_PARTS_RETENTION_MS: int(7 * 24 * 60 * 60 * 1000, 1000),
  EXPORT_XLSX_SHEET_ROWS: int(1_048_576, 2).refine((n) => n <= 1_048_576, 'at most 1048576 (Excel)'),
  EXPORT_PDF_ROWS_PER_PAGE: int(40, 1),
  RATE_LIMIT_PER_SEC: int(20),
  RATE_LIMIT_BURST: int(60, 1),
  USER_MAX_ACTIVE_JOBS: int(100, 1),
  USER_MAX_RUNNING_HEAVY: int(2, 1),
  USER_HIGHEST_PRIORITY: int(2, 1).refine((p) => p <= 5, 'must be a priority key from 1 to 5'),
  HEAVY_BACKLOG_MAX: int(1000, 1),
  /** Whether a worker that serves `jobs` runs the outbox relay, which starts recorded jobs' workflows. */
  OUTBOX_RELAY: bool(true),
  /** Workflow starts one relay runs at once (each holds a database connection for its start). */
  OUTBOX_RELAY_CONCURRENCY: int(4, 1),
  /** How often the relay also looks for unstarted jobs without being notified, in ms. */
  OUTBOX_SWEEP_INTERVAL_MS: int(5000, 100),
  EVENTS_POLL_INTERVAL_MS: int(1000, 50),
  EVENTS_KEEPALIVE_MS: int(15_000, 100),
  /** A WebSocket that has not authenticated this long after connecting is closed. */
  WS_AUTH_TIMEOUT_MS: int(5000, 100),
  /** Open event streams (SSE and WebSocket together) one API key may hold on one API process. */
  STREAMS_PER_KEY_MAX: int(20, 1),
  /** How often open streams check that their key is still valid (one query for all of them), in ms. */
  STREAMS_KEY_CHECK_MS: int(1000, 100),
  /** When set, `GET /metrics` requires `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().min(16, 'must be at least 16 characters').optional(),
  ),
  DOWNLOAD_LINK_TTL_SECONDS: int(7 * 24 * 3600, 1),
  WEBHOOK_ALLOW_PRIVATE: bool(false),
  WEBHOOK_ALLOW_HOSTS: list,
  WEBHOOK_TIMEOUT_MS: int(10_000, 100),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  MAIL_FROM: z.string().min(3).default('offload <offload@localhost>'),
});

export type Env = z.infer<typeof envSchema>;

export interface TemporalSettings {
  connection: ConnectionOptions;
  namespace: string;
}

export interface Config extends Env {
  temporal: TemporalSettings;
  storageDir: string;
  /**
   * A variable of the same environment, by name: the datasets file names the variables that hold its
   * sources' URLs (never the URL itself), and they are read here, so this stays the only env reader.
   */
  variable(name: string): string | undefined;
  /** VOICES_DIR, resolved (default: the setup cache's voices folder). */
  voicesDir: string;
  /** PIPER_PHONEMIZER_DIR, resolved. */
  piperPhonemizerDir: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * A problem names the variable and what is wrong with it, never the value it was given: any variable
 * may hold a secret (a password in DATABASE_URL, in either URL or key=value form, an S3 secret, a
 * token, or a secret pasted into the wrong variable), and the problems end up in logs. Only whether the
 * variable was empty is told, since that is often the whole mistake.
 */
function describeValue(value: string): string {
  return value === '' ? ' (it is empty)' : '';
}

/**
 * The first line of an error from loading Temporal's settings (envconfig names keys and profiles there,
 * never values); a TOML parse error goes on to quote the offending lines of the file, which may hold an
 * API key, so the rest is left out.
 */
function temporalProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.trim() || 'invalid Temporal settings';
}

/** Bytes of a request body holding `chars` characters of up to 3 bytes each, plus 4 KiB for the rest. */
const bodyBytesFor = (chars: number) => chars * 3 + 4096;

/** Parse and validate the environment. Throws ConfigError naming every wrong variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.');
      const variable = String(issue.path[0]);
      const value = env[variable];
      // zod's messages describe the expectation, never the input (no custom message quotes it).
      problems.push(`${name}: ${issue.message}${value === undefined ? '' : describeValue(value)}`);
    }
  }
  // Checked on its own, so that it is listed together with any other wrong variable.
  const retry = envSchema.pick({ EXPORT_RETRY_INITIAL_MS: true, EXPORT_RETRY_MAX_MS: true }).safeParse(env);
  if (retry.success && retry.data.EXPORT_RETRY_MAX_MS < retry.data.EXPORT_RETRY_INITIAL_MS) {
    problems.push('EXPORT_RETRY_MAX_MS: must be at least EXPORT_RETRY_INITIAL_MS');
  }
  const audioRetry = envSchema
    .pick({ AUDIO_RETRY_INITIAL_MS: true, AUDIO_RETRY_MAX_MS: true })
    .safeParse(env);
  if (audioRetry.success && audioRetry.data.AUDIO_RETRY_MAX_MS < audioRetry.data.AUDIO_RETRY_INITIAL_MS) {
    problems.push('AUDIO_RETRY_MAX_MS: must be at least AUDIO_RETRY_INITIAL_MS');
  }
  // The body limit must hold the longest audio text the API accepts (3 bytes a character, plus the rest).
  const text = envSchema.pick({ API_BODY_LIMIT_BYTES: true, AUDIO_MAX_TEXT_CHARS: true }).safeParse(env);
  if (text.success && text.data.API_BODY_LIMIT_BYTES < bodyBytesFor(text.data.AUDIO_MAX_TEXT_CHARS)) {
    problems.push(
      `API_BODY_LIMIT_BYTES: must be at least ${bodyBytesFor(text.data.AUDIO_MAX_TEXT_CHARS)} to hold AUDIO_MAX_TEXT_CHARS characters of up to 3 bytes each`,
    );
  }
  if (parsed.success && parsed.data.STORAGE_DRIVER === 's3' && !parsed.data.S3_BUCKET) {
    problems.push('S3_BUCKET: required when STORAGE_DRIVER is s3');
  }
  let temporal: TemporalSettings | undefined;
  try {
    const overrideEnvVars = Object.fromEntries(
      Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
    );
    const cfg = loadClientConnectConfig({ overrideEnvVars });
    temporal = {
      connection: { ...cfg.connectionOptions, address: cfg.connectionOptions.address ?? 'localhost:7233' },
      namespace: cfg.namespace ?? 'default',
    };
  } catch (err) {
    problems.push(`TEMPORAL_*: ${temporalProblem(err)}`);
  }
  if (!parsed.success || !temporal || problems.length > 0) throw new ConfigError(problems);
  const data = parsed.data;
  const variable = (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);
  // The setup cache (scripts/setup.ts provisions the voice and the phonemizer there).
  const cache = path.join(env.XDG_CACHE_HOME || path.join(env.HOME || '/', '.cache'), 'offload');
  return {
    ...data,
    temporal,
    storageDir: path.resolve(data.STORAGE_DIR),
    voicesDir: path.resolve(data.VOICES_DIR ?? path.join(cache, 'voices')),
    piperPhonemizerDir: path.resolve(data.PIPER_PHONEMIZER_DIR ?? path.join(cache, 'piper-phonemizer-1.8.0')),
    variable,
  };
}

/** Variables the config accepts, for documentation and for checking deployment files. */
export const TEMPORAL_ENV_VARS = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
] as const;
