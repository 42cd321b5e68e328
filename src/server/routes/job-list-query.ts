/**
 * The query of the job lists (`GET /v1/jobs`, and `GET /v1/dead-letters` without `state`): its schema,
 * the filter values it stands for, and the link to the next page.
 */
import { z } from '@hono/zod-openapi';
import { CURSOR_PATTERN, decodeCursor, encodeCursor } from '../../db/jobs-list.js';
import { jobKinds } from '../../kinds/index.js';
import { JOB_STATES } from '../../shared/jobs.js';
import { EARLIEST_INSTANT_MS, LATEST_INSTANT_MS } from '../../shared/input.js';
import { DATE_TIME_PATTERN } from '../../shared/patterns.js';
import { problems } from '../http/problem.js';

/**
 * A list of `values` in the query, comma-separated (`state=failed,cancelled`: OpenAPI's form style,
 * not exploded); the document names the allowed values.
 */
const listOf = <T extends string>(name: string, values: readonly T[], what: string) =>
  z
    .preprocess(
      (s) => (typeof s === 'string' ? s.split(',') : s),
      z.array(z.string(), { error: 'must be a comma-separated list' }).min(1).max(20, 'at most 20 values'),
    )
    .superRefine((list, ctx) => {
      const bad = list.filter((x) => !(values as readonly string[]).includes(x));
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown ${what} ${bad.join(', ')}; allowed: ${values.join(', ')}`,
        });
      }
    })
    .transform((list) => list as T[])
    .optional()
    .openapi({
      param: { name, in: 'query', style: 'form', explode: false },
      items: { type: 'string', enum: [...values] },
      description: `Comma-separated: ${values.join(', ')}`,
    });

/** The list query, with the kinds registered when it is built (a route's, at registration). */
export function listQuery() {
  return z.object({
    limit: z.coerce
      .number({ error: 'must be a number' })
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100')
      .default(20)
      .openapi({ param: { name: 'limit', in: 'query' }, example: 20 }),
    cursor: z
      .string()
      .regex(CURSOR_PATTERN, 'not a cursor from this API')
      .optional()
      .openapi({
        param: { name: 'cursor', in: 'query' },
        description: 'The `nextCursor` of the previous page',
      }),
    kind: listOf('kind', jobKinds.names(), 'kind'),
    state: listOf('state', JOB_STATES, 'state'),
    createdAfter: z
      .string()
      .regex(DATE_TIME_PATTERN, 'must be an ISO 8601 date-time with seconds and a zone')
      .optional()
      .openapi({ param: { name: 'createdAfter', in: 'query' }, format: 'date-time' }),
    createdBefore: z
      .string()
      .regex(DATE_TIME_PATTERN, 'must be an ISO 8601 date-time with seconds and a zone')
      .optional()
      .openapi({ param: { name: 'createdBefore', in: 'query' }, format: 'date-time' }),
  });
}

export type ListQuery = z.infer<ReturnType<typeof listQuery>>;

/**
 * A bound as the Date the query compares with, moved into years 0001-9999 (UTC). The document takes any
 * real day of those years with any zone up to ±14:59, so `9999-12-31T23:00:00-14:00` (an instant in year
 * 10000) and `0001-01-01T00:00:00+01:00` (in year 0) are valid; as Dates they would reach PostgreSQL
 * through toISOString() in forms it refuses (a 500). No job is created outside those years, so the
 * nearest instant inside selects the same jobs.
 */
function instantInRange(value: string): Date {
  return new Date(Math.min(LATEST_INSTANT_MS, Math.max(EARLIEST_INSTANT_MS, Date.parse(value))));
}

/** The list query as filter values, or a 422 for a bad cursor. */
export function pageFilter(q: ListQuery) {
  let before: string | undefined;
  if (q.cursor !== undefined) {
    before = decodeCursor(q.cursor);
    if (!before)
      throw problems.validation([{ field: 'cursor', in: 'query', reason: 'not a cursor from this API' }]);
  }
  return {
    limit: q.limit,
    before,
    kinds: q.kind,
    states: q.state,
    createdFrom: q.createdAfter ? instantInRange(q.createdAfter) : undefined,
    createdTo: q.createdBefore ? instantInRange(q.createdBefore) : undefined,
  };
}

/** The link to the next page: the same query with the cursor replaced. */
export function nextLink(path: string, url: string, nextCursor: string | null): string | null {
  if (!nextCursor) return null;
  const params = new URL(url).searchParams;
  params.set('cursor', encodeCursor(nextCursor));
  return `${path}?${params.toString()}`;
}
