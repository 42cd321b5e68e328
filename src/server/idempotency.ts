/**
 * `Idempotency-Key` for job-creating routes. The key is scoped to the user and the route and kept for 24
 * hours. The same key with the same body returns the job the first request created (no second workflow,
 * even for concurrent duplicates: the claim is a primary-key insert); the same key with a different body
 * is a 422. Any creating route uses it as `createIdempotently(c, db, 'audio.create', body, create)`.
 */
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { claimIdempotencyKey, releaseIdempotencyKey } from '../db/idempotency-repo.js';
import { getJob, type JobRow } from '../db/jobs-repo.js';
import type { Db } from '../db/client.js';
import { newJobId } from '../lib/ids.js';
import type { AppEnv } from './env.js';
import { HttpProblem, problems } from './problem.js';

export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
const KEY_RE = /^[\x21-\x7e]{1,255}$/;
/** How long a duplicate waits for the first request with its key to record the job. */
const WAIT_FOR_FIRST_MS = 5000;

/** JSON with object keys sorted, so that the same body always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonical(body)).digest('hex');
}

export interface Created {
  job: JobRow;
  /** True when an earlier request with the same key created the job. */
  replayed: boolean;
}

/** Run `create(jobId)` once per idempotency key (when the request has one). */
export async function createIdempotently(
  c: Context<AppEnv>,
  db: Db,
  scope: string,
  body: unknown,
  create: (jobId: string) => Promise<JobRow>,
): Promise<Created> {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return { job: await create(newJobId()), replayed: false };
  if (!KEY_RE.test(key)) {
    throw problems.validation([
      { field: 'Idempotency-Key', in: 'header', reason: 'must be 1-255 visible ASCII characters' },
    ]);
  }
  const userId = c.get('principal').userId;
  const jobId = newJobId();
  const hash = requestHash(body);
  const existing = await claimIdempotencyKey(db, {
    userId,
    scope,
    key,
    requestHash: hash,
    jobId,
    ttlMs: IDEMPOTENCY_TTL_MS,
  });
  if (!existing) {
    try {
      return { job: await create(jobId), replayed: false };
    } catch (err) {
      await releaseIdempotencyKey(db, { userId, scope, key });
      throw err;
    }
  }
  if (existing.requestHash !== hash) {
    throw new HttpProblem(
      422,
      'idempotency-key-reused',
      'Idempotency-Key reused with a different request',
      'this Idempotency-Key was used with another body in the last 24 hours; use a new key',
      {
        errors: [{ field: 'Idempotency-Key', in: 'header', reason: 'already used with a different body' }],
        jobId: existing.jobId,
      },
    );
  }
  // A concurrent duplicate may arrive before the first request has recorded its job.
  const deadline = Date.now() + WAIT_FOR_FIRST_MS;
  for (;;) {
    const job = await getJob(db, existing.jobId);
    if (job) return { job, replayed: true };
    if (Date.now() > deadline) {
      throw new HttpProblem(
        409,
        'idempotency-in-progress',
        'A request with this Idempotency-Key is still in progress',
        'retry in a moment',
        {},
        { 'retry-after': '1' },
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
