/**
 * `Idempotency-Key` for job-creating routes. The key is scoped to the user and the route and kept for 24
 * hours. The same key with the same body returns the job the first request created (no second workflow,
 * even for concurrent duplicates: the claim is a primary-key insert in the transaction that records the
 * job, so a duplicate waits for that transaction and then finds the job); the same key with a different
 * body is a 422. `createJob` claims the key when its input carries one.
 */
import { createHash } from 'node:crypto';
import { claimIdempotencyKey, type IdempotencyRow } from '../../db/idempotency-repo.js';
import type { DbOrTx } from '../../db/jobs-repo.js';
import { HttpProblem, problems } from '../http/problem.js';

export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
/** 1-255 visible ASCII characters (the header's pattern in the document too). */
export const KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** What a job-creating request says about idempotency: the route's scope, the header, and its body. */
export interface IdempotencyContext {
  /** The route, e.g. `exports.create`: the same key on another route is another key. */
  scope: string;
  /** The `Idempotency-Key` header, if the request sent one. */
  key: string | undefined;
  /** The validated body the key is bound to (key order does not matter). */
  body: unknown;
}

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

/** The key of a request, checked (a 422 naming the header otherwise); undefined when it sent none. */
export function idempotencyKeyOf(ctx: IdempotencyContext | undefined): string | undefined {
  if (ctx?.key === undefined) return undefined;
  if (!KEY_RE.test(ctx.key)) {
    throw problems.validation([
      { field: 'idempotency-key', in: 'header', reason: 'must be 1-255 visible ASCII characters' },
    ]);
  }
  return ctx.key;
}

/**
 * Inside the transaction that records job `jobId`: claim the request's key for it. Returns undefined
 * when this request claimed the key (record the job), or the earlier claim of the same key and body
 * (answer with its job); the same key with another body is a 422.
 */
export async function claimKey(
  tx: DbOrTx,
  userId: string,
  ctx: IdempotencyContext & { key: string },
  jobId: string,
): Promise<IdempotencyRow | undefined> {
  const hash = requestHash(ctx.body);
  const earlier = await claimIdempotencyKey(tx, {
    userId,
    scope: ctx.scope,
    key: ctx.key,
    requestHash: hash,
    jobId,
    ttlMs: IDEMPOTENCY_TTL_MS,
  });
  if (earlier && earlier.requestHash !== hash) {
    throw new HttpProblem(
      422,
      'idempotency-key-reused',
      'Idempotency-Key reused with a different request',
      'this Idempotency-Key was used with another body in the last 24 hours; use a new key',
      {
        errors: [{ field: 'idempotency-key', in: 'header', reason: 'already used with a different body' }],
        jobId: earlier.jobId,
      },
    );
  }
  return earlier;
}

/**
 * A claim whose job is not there. The claim and the job commit together, so only a claim made by an
 * older API version (which recorded the job after the claim) can be seen without its job, for a moment.
 */
export function claimInProgress(): HttpProblem {
  return new HttpProblem(
    409,
    'idempotency-in-progress',
    'A request with this Idempotency-Key is still in progress',
    'retry in a moment',
    {},
    { 'retry-after': '1' },
  );
}
