/** The database schema: users, API keys, jobs with their history, and the exportable demo data. */
import { sql } from 'drizzle-orm';
import {
  bigint,
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
import { JOB_KINDS, JOB_STATES } from '../shared/jobs.js';
import type { JobError, JobRequest, JobResult } from '../shared/jobs.js';

export const jobKind = pgEnum('job_kind', JOB_KINDS);
export const jobState = pgEnum('job_state', JOB_STATES);
export const keyScope = pgEnum('key_scope', ['user', 'admin']);

export const users = pgTable('users', {
  id: text().primaryKey(),
  name: text().notNull().unique(),
  tenantId: text().notNull(),
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
    kind: jobKind().notNull(),
    state: jobState().notNull().default('queued'),
    request: jsonb().$type<JobRequest>().notNull(),
    workflowId: text().notNull(),
    /** Set once the workflow is known to exist; a queued job without it is picked up by the outbox sweeper. */
    workflowStartedAt: timestamp({ withTimezone: true }),
    attempts: integer().notNull().default(0),
    result: jsonb().$type<JobResult>(),
    error: jsonb().$type<JobError>(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('jobs_user_created_idx').on(t.userId, t.createdAt.desc(), t.id.desc()),
    index('jobs_unstarted_idx')
      .on(t.createdAt)
      .where(sql`${t.workflowStartedAt} is null and ${t.state} = 'queued'`),
  ],
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
