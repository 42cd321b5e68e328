/** Reading jobs: the caller's list, one job with live progress and its attempts, and server-sent events. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { decodeCursor, encodeCursor, listJobs } from '../../db/jobs-list.js';
import { findRetryOf, listAttempts } from '../../db/jobs-repo.js';
import { JOB_KINDS, JOB_STATES } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import { problems } from '../problem.js';
import { visibleJob } from '../visible-job.js';
import type { AppEnv } from '../env.js';
import type { JobSnapshot, JobWatchHub } from '../job-watch.js';
import { jobView, progressFromRow } from '../job-view.js';
import { liveProgress } from '../progress.js';
import { JobIdParam, JobSchema, problemResponses } from '../schemas.js';

const csvOf = <T extends string>(values: readonly T[], what: string) =>
  z
    .string()
    .max(200)
    .optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined;
      const list = s.split(',').map((x) => x.trim());
      const bad = list.filter((x) => !(values as readonly string[]).includes(x));
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown ${what} ${bad.join(', ')}; allowed: ${values.join(', ')}`,
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
  cursor: z
    .string()
    .max(200)
    .optional()
    .openapi({
      param: { name: 'cursor', in: 'query' },
      description: 'The `nextCursor` of the previous page',
    }),
  kind: csvOf(JOB_KINDS, 'kind').openapi({
    param: { name: 'kind', in: 'query' },
    description: `Comma-separated: ${JOB_KINDS.join(', ')}`,
  }),
  state: csvOf(JOB_STATES, 'state').openapi({
    param: { name: 'state', in: 'query' },
    description: `Comma-separated: ${JOB_STATES.join(', ')}`,
  }),
  createdAfter: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 date-time' })
    .optional()
    .openapi({ param: { name: 'createdAfter', in: 'query' } }),
  createdBefore: z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 date-time' })
    .optional()
    .openapi({ param: { name: 'createdBefore', in: 'query' } }),
});

export const JobListSchema = z
  .object({
    items: z.array(JobSchema),
    nextCursor: z.string().nullable(),
    next: z.string().nullable().openapi({ description: 'Link to the next page, or null on the last page' }),
  })
  .openapi('JobList');

const AttemptSchema = z.object({
  attempt: z.number(),
  worker: z.string(),
  resumedFromRows: z.number(),
  rowsRead: z.number(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});

const JobDetailSchema = JobSchema.extend({
  attemptLog: z
    .array(AttemptSchema)
    .openapi({ description: 'Each attempt of the heavy activity, with its time' }),
  retriedBy: z.string().nullable().openapi({ description: 'The job that redrives this one' }),
}).openapi('JobDetail');

const listRoute = createRoute({
  method: 'get',
  path: '/v1/jobs',
  operationId: 'jobs.list',
  tags: ['jobs'],
  summary: "The caller's jobs, newest first, with cursor pagination and filters",
  security: [{ bearer: [] }],
  request: { query: ListQuery },
  responses: {
    200: { description: 'A page of jobs', content: { 'application/json': { schema: JobListSchema } } },
    ...problemResponses(401, 422),
  },
});

const getJobRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  operationId: 'jobs.get',
  tags: ['jobs'],
  summary: 'A job with its live progress and ETA, attempts, result or error',
  security: [{ bearer: [] }],
  request: { params: JobIdParam },
  responses: {
    200: { description: 'The job', content: { 'application/json': { schema: JobDetailSchema } } },
    ...problemResponses(401, 404),
  },
});

const eventsRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/events',
  operationId: 'jobs.events',
  tags: ['jobs'],
  summary: 'Server-sent events: `progress` on every change, `state` on each state change, `end` at the end',
  description:
    'Each event carries an id; reconnect with `Last-Event-ID` to skip what was seen. A `: keep-alive` comment ' +
    'is sent when idle. The stream closes after `end`.',
  security: [{ bearer: [] }],
  request: {
    params: JobIdParam,
    headers: z.object({
      'last-event-id': z
        .string()
        .max(200)
        .optional()
        .openapi({ param: { name: 'last-event-id', in: 'header' } }),
    }),
  },
  responses: {
    200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
    ...problemResponses(401, 404),
  },
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

export function registerJobRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, hub: JobWatchHub): void {
  const { db } = deps.database;
  const keepAliveMs = deps.config.EVENTS_KEEPALIVE_MS;

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid('query');
    const page = await listJobs(db, { ...pageFilter(q), userId: c.get('principal').userId });
    return c.json(
      {
        items: page.items.map((j) => jobView(j, progressFromRow(j))),
        nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null,
        next: nextLink('/v1/jobs', c.req.url, page.nextCursor),
      },
      200,
    );
  });

  app.openapi(getJobRoute, async (c) => {
    const job = await visibleJob(db, c.req.valid('param').id, c.get('principal'));
    const [progress, attempts, retriedBy] = await Promise.all([
      liveProgress(deps.temporal, job),
      listAttempts(db, job.id),
      findRetryOf(db, job.id),
    ]);
    return c.json(
      {
        ...jobView(job, progress),
        attemptLog: attempts.map((a) => ({
          attempt: a.attempt,
          worker: a.worker,
          resumedFromRows: a.resumedFromRows,
          rowsRead: a.rowsRead,
          startedAt: a.startedAt.toISOString(),
          finishedAt: a.finishedAt?.toISOString() ?? null,
        })),
        retriedBy: retriedBy?.id ?? null,
      },
      200,
    );
  });

  app.openapi(eventsRoute, async (c) => {
    const job = await visibleJob(db, c.req.valid('param').id, c.get('principal'));
    const lastEventId = c.req.valid('header')['last-event-id'];
    return streamSSE(c, async (stream) => {
      let pending: JobSnapshot | undefined;
      let wake: (() => void) | undefined;
      const unwatch = hub.watch(job.id, (s) => {
        pending = s;
        wake?.();
      });
      stream.onAbort(() => wake?.());
      let lastId = lastEventId;
      let lastState = lastEventId?.split('.')[0];
      try {
        while (!stream.aborted) {
          const snap = pending;
          pending = undefined;
          if (!snap) {
            let timer: NodeJS.Timeout | undefined;
            const woke = await new Promise<boolean>((resolve) => {
              wake = () => resolve(true);
              timer = setTimeout(() => resolve(false), keepAliveMs);
            });
            wake = undefined;
            clearTimeout(timer);
            if (!woke && !stream.aborted) await stream.write(': keep-alive\n\n');
            continue;
          }
          if (snap.id !== lastId) {
            if (snap.job.state !== lastState) {
              await stream.writeSSE({
                id: snap.id,
                event: 'state',
                data: JSON.stringify({
                  jobId: snap.jobId,
                  state: snap.job.state,
                  at: new Date().toISOString(),
                }),
              });
            }
            await stream.writeSSE({
              id: snap.id,
              event: 'progress',
              data: JSON.stringify({ jobId: snap.jobId, ...snap.progress, state: snap.job.state }),
            });
            lastId = snap.id;
            lastState = snap.job.state;
          }
          if (snap.terminal) {
            await stream.writeSSE({ id: snap.id, event: 'end', data: JSON.stringify(snap.job) });
            break;
          }
        }
      } finally {
        unwatch();
      }
    });
  });
}
