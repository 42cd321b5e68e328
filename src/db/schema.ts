/** The database schema: users, API keys, jobs with their history, and the exportable demo data. */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { JOB_STATES } from '../shared/jobs.js';
import type {
  ExportCheckpoint,
  JobError,
  JobKind,
  JobNotify,
  JobRequest,
  JobResult,
} from '../shared/jobs.js';

export const jobState = pgEnum('job_state', JOB_STATES);
export const keyScope = pgEnum('key_scope', ['user', 'admin']);

export const users = pgTable('users', {
  id: text().primaryKey(),
  name: text().notNull().unique(),
  tenantId: text().notNull(),
  /** Default webhook destination for the user's jobs. */
  webhookUrl: text(),
  /** Standard Webhooks signing secret (`whsec_…`), created on first use. */
  webhookSecret: text(),
  /** Jobs this user may have queued or running at once; null = the API's USER_MAX_ACTIVE_JOBS. */
  maxActiveJobs: integer(),
  /** Heavy activities (exports, audio) this user may run at once; null = USER_MAX_RUNNING_HEAVY. */
  maxRunningHeavy: integer(),
  /** Best (lowest) Temporal priority key this user may ask for; null = USER_HIGHEST_PRIORITY. */
  highestPriority: integer(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

export const apiKeys = pgTable(
  'api_keys',
  {
    id: text().primaryKey(),
    userId: text()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The public, non-secret part of the key, used to find the row. */
    prefix: text().notNull(),
    /** SHA-256 of the secret part, hex. Keys are random 192-bit strings, so a fast hash is enough. */
    secretHash: text().notNull(),
    scope: keyScope().notNull().default('user'),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp({ withTimezone: true }),
    revokedAt: timestamp({ withTimezone: true }),
  },
  (t) => [uniqueIndex('api_keys_prefix_idx').on(t.prefix)],
);

export const jobs = pgTable(
  'jobs',
  {
    id: text().primaryKey(),
    userId: text()
      .notNull()
      .references(() => users.id),
    tenantId: text().notNull(),
    /** A registered job kind (src/kinds); text, so adding a kind needs no migration. */
    kind: text().$type<JobKind>().notNull(),
    state: jobState().notNull().default('queued'),
    /** Temporal priority key of the job's tasks (1 = first). */
    priority: integer().notNull().default(3),
    request: jsonb().$type<JobRequest>().notNull(),
    workflowId: text().notNull(),
    /** Set once the workflow is known to exist; a queued job without it is picked up by the outbox sweeper. */
    workflowStartedAt: timestamp({ withTimezone: true }),
    attempts: integer().notNull().default(0),
    result: jsonb().$type<JobResult>(),
    error: jsonb().$type<JobError>(),
    /** Where to tell the user about the end of the job (webhook URL, e-mail address). */
    notify: jsonb().$type<JobNotify>(),
    /** Last stored checkpoint of the heavy activity, so a redrive can resume from it. */
    checkpoint: jsonb().$type<ExportCheckpoint>(),
    /** Storage id under which the job's parts live (the original job's id for a redrive). */
    partsId: text(),
    /** The job this one redrives. */
    retryOf: text(),
    /**
     * W3C `traceparent` of the request that created the job (when tracing is on), so the relay starts the
     * workflow inside that trace: one trace per job from the HTTP request to the last activity.
     */
    traceContext: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('jobs_user_created_idx').on(t.userId, t.createdAt.desc(), t.id.desc()),
    index('jobs_user_id_idx').on(t.userId, t.id.desc()),
    index('jobs_state_idx').on(t.state, t.id.desc()),
    // One redrive per job: a second concurrent retry of the same job conflicts here.
    uniqueIndex('jobs_retry_of_idx').on(t.retryOf),
    // Admission counts: a user's active jobs, and the backlog of queued jobs per kind.
    index('jobs_user_active_idx')
      .on(t.userId)
      .where(sql`${t.state} in ('queued', 'running')`),
    index('jobs_queued_kind_idx')
      .on(t.kind)
      .where(sql`${t.state} = 'queued'`),
    index('jobs_unstarted_idx')
      .on(t.createdAt)
      .where(sql`${t.workflowStartedAt} is null and ${t.state} = 'queued'`),
    // An export estimate's history (src/db/export-estimates.ts): the latest succeeded exports of one
    // dataset, format and compression, read newest first without visiting the others.
    index('jobs_export_history_idx')
      .on(
        sql`(${t.request} ->> 'dataset')`,
        sql`(${t.request} ->> 'format')`,
        sql`(coalesce(${t.request} ->> 'compression', 'none'))`,
        t.finishedAt.desc(),
      )
      .where(sql`${t.kind} = 'export' and ${t.state} = 'succeeded'`),
  ],
);

/**
 * Request-rate token buckets, one row per user, shared by every API process. A request takes one token;
 * tokens refill continuously. `allowed` is the outcome of the last take, returned by the same UPDATE.
 */
export const rateLimitBuckets = pgTable('rate_limit_buckets', {
  key: text().primaryKey(),
  tokens: doublePrecision().notNull(),
  refreshedAt: timestamp({ withTimezone: true }).notNull(),
  allowed: boolean().notNull(),
});

/**
 * Admission's counts, kept by triggers on `jobs` (drizzle/0007_admission_counts.sql) so that admitting
 * a job reads a few rows however many jobs wait: the queued jobs of all users and each user's jobs
 * queued or running (a user without rows has none), both in 16 shards by a hash of the job id, so that
 * a submission rarely waits on a row a worker's transaction holds for a job it starts or ends (readers
 * sum the shards).
 */
export const jobBacklog = pgTable('job_backlog', {
  shard: integer().primaryKey(),
  queued: integer().notNull().default(0),
});

export const userActiveJobs = pgTable(
  'user_active_jobs',
  {
    userId: text().notNull(),
    shard: integer().notNull(),
    active: integer().notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.userId, t.shard] })],
);

/** Heavy-activity slots held by running jobs: a user's rows are capped by their maxRunningHeavy. */
export const heavySlots = pgTable(
  'heavy_slots',
  {
    jobId: text()
      .primaryKey()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    userId: text().notNull(),
    kind: text().$type<JobKind>().notNull(),
    acquiredAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('heavy_slots_user_idx').on(t.userId)],
);

/** Every state change of a job, with its time. */
export const jobEvents = pgTable(
  'job_events',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    jobId: text()
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    state: jobState().notNull(),
    attempt: integer(),
    detail: text(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('job_events_job_idx').on(t.jobId, t.id)],
);

/** One row per attempt of a heavy activity: where it resumed and how much it read. */
export const jobAttempts = pgTable(
  'job_attempts',
  {
    jobId: text()
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    attempt: integer().notNull(),
    worker: text().notNull(),
    resumedFromRows: bigint({ mode: 'number' }).notNull(),
    rowsRead: bigint({ mode: 'number' }).notNull().default(0),
    startedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp({ withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.attempt] })],
);

/**
 * One row per chunk of speech an audio attempt synthesised and stored: the proof that a retry does not
 * synthesise finished chunks again (each chunk is synthesised by exactly one attempt).
 */
export const audioChunks = pgTable(
  'audio_chunks',
  {
    jobId: text()
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    chunkIndex: integer().notNull(),
    attempt: integer().notNull(),
    worker: text().notNull(),
    characters: integer().notNull(),
    samples: integer().notNull(),
    synthesizedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.chunkIndex, t.attempt] })],
);

/** Idempotency keys of job submissions, scoped to the user and the route, kept for 24 hours. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: text()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    scope: text().notNull(),
    key: text().notNull(),
    /** SHA-256 of the canonical request body. */
    requestHash: text().notNull(),
    jobId: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.scope, t.key] })],
);

/** Every attempt to deliver a notification (webhook or e-mail) about a job. */
export const deliveries = pgTable(
  'deliveries',
  {
    id: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    jobId: text()
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    channel: text().$type<'webhook' | 'email'>().notNull(),
    /** The webhook-id (Standard Webhooks), the same for every attempt of one event. */
    eventId: text().notNull(),
    eventType: text().notNull(),
    target: text().notNull(),
    attempt: integer().notNull(),
    ok: boolean().notNull(),
    statusCode: integer(),
    error: text(),
    durationMs: integer(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('deliveries_job_idx').on(t.jobId, t.id)],
);

/** Secrets shared by every API and worker process (e.g. the download-link signing key), created once. */
export const appSecrets = pgTable('app_secrets', {
  name: text().primaryKey(),
  value: text().notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** Demo dataset: a tenant-scoped orders table. */
export const orders = pgTable(
  'orders',
  {
    id: bigint({ mode: 'number' }).primaryKey(),
    tenantId: text().notNull(),
    customer: text().notNull(),
    email: text().notNull(),
    country: text().notNull(),
    status: text().notNull(),
    currency: text().notNull(),
    amount: numeric({ precision: 12, scale: 2 }).notNull(),
    itemCount: integer().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [index('orders_tenant_id_idx').on(t.tenantId, t.id)],
);

/** Demo dataset: a tenant-scoped customers table (the second exportable dataset). */
export const customers = pgTable(
  'customers',
  {
    id: bigint({ mode: 'number' }).primaryKey(),
    tenantId: text().notNull(),
    name: text().notNull(),
    email: text().notNull(),
    country: text().notNull(),
    signedUpAt: timestamp({ withTimezone: true }).notNull(),
    lifetimeValue: numeric({ precision: 12, scale: 2 }).notNull(),
    note: text(),
  },
  (t) => [index('customers_tenant_id_idx').on(t.tenantId, t.id)],
);

/**
 * The finished jobs' part of `/metrics`, so that a scrape never reads the whole jobs table: per kind,
 * terminal state and shard, the number of jobs, the bytes produced, and the sum, count and per-bucket
 * counts (not cumulative; bounds in `job_stats_bounds()`, the last bucket above them all) of queue wait
 * and duration. Triggers on `jobs` (drizzle/0003_job_stats.sql) add a job's contribution when it reaches
 * a terminal state and move or remove it on any later change, so the table always equals an aggregate
 * over the terminal rows of `jobs`. A job counts in the shard of its id's hash, so concurrent job ends
 * do not queue on one row; readers sum the shards.
 */
export const jobStats = pgTable(
  'job_stats',
  {
    kind: text().notNull(),
    state: jobState().notNull(),
    shard: integer().notNull(),
    jobs: bigint({ mode: 'number' }).notNull().default(0),
    bytes: numeric().notNull().default('0'),
    waitCount: bigint({ mode: 'number' }).notNull().default(0),
    waitSum: doublePrecision().notNull().default(0),
    waitBuckets: bigint({ mode: 'number' }).array().notNull(),
    durationCount: bigint({ mode: 'number' }).notNull().default(0),
    durationSum: doublePrecision().notNull().default(0),
    durationBuckets: bigint({ mode: 'number' }).array().notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.state, t.shard] })],
);
