/**
 * The query of the job lists (`GET /v1/jobs`, and `GET /v1/dead-letters` without `state`): its schema,
 * the filter values it stands for, and the link to the next page.
 */
import { z } from '@hono/zod-openapi';
import { decodeCursor, encodeCursor } from '../../db/jobs-list.js';
import { jobKinds } from '../../kinds/index.js';
import { JOB_STATES } from '../../shared/jobs.js';
import { problems } from '../http/problem.js';
import { dateTime, safe } from '../http/safe-text.js';

/** A comma-separated list of `values()` (read at each parse: job kinds may be registered late). */
const csvOf = <T extends string>(values: () => readonly T[], what: string) =>
  safe(z.string().max(200))
    .optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined;
      const list = s.split(',').map((x) => x.trim());
      const allowed: readonly string[] = values();
      const bad = list.filter((x) => !allowed.includes(x));
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown ${what} ${bad.join(', ')}; allowed: ${allowed.join(', ')}`,
        });
        return z.NEVER;
      }
      return list as T[];
    });

export const ListQuery = z.object({
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .default(20)
    .openapi({ param: { name: 'limit', in: 'query' }, example: 20 }),
  cursor: safe(z.string().max(200))
    .optional()
    .openapi({
      param: { name: 'cursor', in: 'query' },
      description: 'The `nextCursor` of the previous page',
    }),
  kind: csvOf(() => jobKinds.names(), 'kind').openapi({
    param: { name: 'kind', in: 'query' },
    description: `Comma-separated: ${jobKinds.names().join(', ')}`,
  }),
  state: csvOf(() => JOB_STATES, 'state').openapi({
    param: { name: 'state', in: 'query' },
    description: `Comma-separated: ${JOB_STATES.join(', ')}`,
  }),
  createdAfter: dateTime()
    .optional()
    .openapi({
      param: { name: 'createdAfter', in: 'query' },
      description: 'Jobs created at or after this time',
    }),
  createdBefore: dateTime()
    .optional()
    .openapi({ param: { name: 'createdBefore', in: 'query' }, description: 'Jobs created before this time' }),
});

/** The list query as filter values, or a 422 for a bad cursor. */
export function pageFilter(q: z.infer<typeof ListQuery>) {
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
    createdFrom: q.createdAfter ? new Date(q.createdAfter) : undefined,
    createdTo: q.createdBefore ? new Date(q.createdBefore) : undefined,
  };
}

/** The link to the next page: the same query with the cursor replaced. */
export function nextLink(path: string, url: string, nextCursor: string | null): string | null {
  if (!nextCursor) return null;
  const params = new URL(url).searchParams;
  params.set('cursor', encodeCursor(nextCursor));
  return `${path}?${params.toString()}`;
}
