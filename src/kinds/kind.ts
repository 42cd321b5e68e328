/**
 * What a job kind is: one definition (defineJobKind) holding everything the API, the worker and the
 * dashboard need to know about it. The API reads the request fields, `api` (turn a valid body into the
 * stored request, the kind's own routes), `workflow` (what to start) and `view`; the worker loads
 * `worker` lazily, so the API process never loads a kind's activities or engines.
 */
import type { OpenAPIHono, z } from '@hono/zod-openapi';
// Types only: the worker half is loaded through `worker()` in worker processes.
import type { ActivityDeps } from '../activities/deps.js';
import type { Config } from '../config/env.js';
import type { Database } from '../db/client.js';
import type { JobRow } from '../db/jobs-repo.js';
import type { Principal } from '../db/users-repo.js';
import type { Logger } from '../lib/logger.js';
import type { HeavyActivityPolicy, JobResult, Scheduling } from '../shared/jobs.js';
import type { AppDeps } from '../server/deps.js';
import type { AppEnv } from '../server/http/context.js';

/** What a kind's workflow input is built from when the API starts a recorded job. */
export interface KindStart {
  config: Config;
  /** The task queue name of a base queue (TASK_QUEUE_PREFIX before it). */
  queue: (base: string) => string;
  /** Priority, fairness key and default heavy-slot limit of the job's owner. */
  scheduling: Scheduling;
  /** How long the result is kept once published. */
  retentionMs: number;
}

/** The workflow that runs one recorded job. */
export interface KindWorkflow {
  /** A workflow type of the bundle (src/workflows/index.ts); `jobWorkflow` suits most kinds. */
  type: string;
  input: unknown;
  /** The Temporal UI's summary of the workflow. */
  summary: string;
}

/** The API half of a kind, built once per app. */
export interface KindApi<Body, Request> {
  /**
   * A valid body (notification fields and priority split off) as the request to store, after the checks
   * that need the database or an engine; throws an HttpProblem (e.g. problems.validation) to refuse it.
   */
  prepare: (body: Body, principal: Principal) => Promise<Request>;
  /** The kind's routes besides its creation route (e.g. GET /v1/voices). */
  routes?: (app: OpenAPIHono<AppEnv>) => void;
  /**
   * What `prepare` checks against data only the running API has (e.g. the engine's voices), as JSON
   * Schema for the body in /openapi.json. Asked for on each request of the document; `{ properties: {} }`
   * when that data cannot be had (then `prepare` answers 503).
   */
  bodySchema?: () => Promise<BodySchemaExtra>;
}

/** JSON Schema that /openapi.json adds to a kind's creation body at request time (KindApi.bodySchema). */
export interface BodySchemaExtra {
  /** Keywords merged into the body's properties, by property name (e.g. a `pattern` of known voices). */
  properties: Record<string, Record<string, unknown>>;
  /** Rules across properties, appended to the body's `allOf` (e.g. "pitch only with a voice that has it"). */
  allOf?: Record<string, unknown>[];
}

/** What a kind's worker module gets from the worker process. */
export interface KindWorkerContext {
  config: Config;
  database: Database;
  /** Storage, logger and worker name for the activities (ActivityDeps). */
  deps: ActivityDeps;
  log: Logger;
}

/**
 * The worker half of a kind: the activities its heavy queue serves, how many run at once, and what to
 * release once the worker has stopped (connections it opened).
 */
export interface KindWorker {
  create(
    ctx: KindWorkerContext,
  ): Promise<{ activities: object; concurrency: number; close?: () => Promise<void> }>;
}

/** How the dashboard offers the kind: its card title and button, and which form renders it. */
export interface KindDashboard {
  title: string;
  submitLabel: string;
  /**
   * `generic` renders a form from the request's OpenAPI schema; `export` and `audio` are the
   * dashboard's own forms for those kinds.
   */
  form: 'generic' | 'export' | 'audio';
}

export interface JobKindDefinition<Body extends object = object, Request extends object = object> {
  /** Stored as the job's kind; shown by the API (`kind`), the Temporal UI and the metrics. */
  name: string;
  /** What progress counts (`rows`, `characters`, …). */
  unit: string;
  /** Base name of the heavy pool's task queue; workers serve it with `--queues <queue>`. */
  queue: string;
  /** The creation route: `POST path` with the body built from `fields`, answering 202 with the job. */
  create: {
    path: `/v1/${string}`;
    operationId: string;
    tag: string;
    summary: string;
    /** Name of the body's OpenAPI component. */
    schemaName: string;
    /** The kind's own body fields; every creation body also accepts fileName, callbackUrl, notifyEmail, priority. */
    fields: (config: Config) => z.ZodRawShape;
    /** Checks across fields. */
    refine?: (body: Body, ctx: z.RefinementCtx) => void;
    /**
     * The same checks as `refine`, as JSON Schema keywords of the body (`oneOf`, `not`, …) in the
     * OpenAPI document, so that a body valid by the document is one `refine` accepts. A function is
     * asked when the app is built (e.g. after the datasets file is loaded).
     */
    refineSchema?: Record<string, unknown> | (() => Record<string, unknown>);
  };
  api: (deps: AppDeps) => KindApi<Body, Request>;
  /** The workflow that runs a recorded job of this kind (the request is the one `prepare` returned). */
  workflow: (job: JobRow, start: KindStart) => KindWorkflow;
  /** The job as the API shows it. */
  view: {
    /** Schema of the request as shown back (one branch of `Job.request`). */
    request: z.ZodType;
    /** The request as shown back; the stored request when omitted. */
    showRequest?: (request: Request) => object;
    /** The result's own fields beside fileName, contentType, bytes and sha256 (optional in `Job.result`). */
    resultFields: z.ZodRawShape;
    /** The Content-Types its result files have (declared on the download routes). */
    contentTypes: readonly string[];
    /** Units (of `unit`) a finished job's result holds. */
    done: (result: JobResult) => number;
  };
  /** What the log line of an accepted job says about its request; the whole request when omitted. */
  describe?: (request: Request) => Record<string, unknown>;
  dashboard: KindDashboard;
  /** The worker half, loaded only by worker processes that serve `queue`. */
  worker: () => Promise<KindWorker>;
}

/** A kind's definition, typed by its body and stored request. */
export function defineJobKind<Body extends object, Request extends object>(
  kind: JobKindDefinition<Body, Request>,
): JobKindDefinition {
  return kind as unknown as JobKindDefinition;
}

/** Timeouts and retries of a kind's heavy activity from `<PREFIX>_HEARTBEAT_TIMEOUT_MS` and the rest. */
export function heavyPolicy(config: Config, prefix: 'EXPORT' | 'AUDIO'): HeavyActivityPolicy {
  return {
    heartbeatTimeoutMs: config[`${prefix}_HEARTBEAT_TIMEOUT_MS`],
    startToCloseTimeoutMs: config[`${prefix}_START_TO_CLOSE_TIMEOUT_MS`],
    maxAttempts: config[`${prefix}_MAX_ATTEMPTS`],
    initialRetryIntervalMs: config[`${prefix}_RETRY_INITIAL_MS`],
    maxRetryIntervalMs: config[`${prefix}_RETRY_MAX_MS`],
    failedPartsRetentionMs: config.FAILED_PARTS_RETENTION_MS,
  };
}
