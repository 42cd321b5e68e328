/** Reading jobs: the caller's list, one job with live progress and its attempts, and server-sent events. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { encodeCursor, listJobs } from '../../db/jobs-list.js';
import { findRetryOf, listAttempts } from '../../db/jobs-repo.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { problemResponses } from '../http/problem.js';
import { safe } from '../http/safe-text.js';
import { tooManyStreams } from '../http/stream-guard.js';
import type { JobSnapshot, JobWatchHub } from '../jobs/job-watch.js';
import { jobView, progressFromRow } from '../jobs/job-view.js';
import { liveProgress } from '../jobs/progress.js';
import { visibleJob } from '../jobs/visible-job.js';
import { listQuery, nextLink, pageFilter } from './job-list-query.js';
import { JobIdParam, JobSchema, ProgressSchema } from './job-schemas.js';

const JobListSchema = z
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

// Built at registration: the kind filter names the kinds registered by then.
const listRoute = () =>
  createRoute({
    method: 'get',
    path: '/v1/jobs',
    operationId: 'jobs.list',
    tags: ['jobs'],
    summary: "The caller's jobs, newest first, with cursor pagination and filters",
    security: [{ bearer: [] }],
    request: { query: listQuery() },
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

/** The `data` of each event type of GET /v1/jobs/{id}/events (JSON). */
const JobStateEventSchema = z
  .object({ jobId: z.string(), state: JobSchema.shape.state, at: z.string() })
  .openapi('JobStateEvent');
const JobProgressEventSchema = ProgressSchema.extend({ jobId: z.string() }).openapi('JobProgressEvent');

/**
 * One server-sent event as the document describes it (OpenAPI 3.1: the `text/event-stream` schema is
 * that of each event): its `event` type, its `id`, and its `data`, a JSON text of the type's schema.
 */
function sseEvent(type: string, description: string, dataSchema: string) {
  return z
    .object({
      event: z.literal(type),
      id: z.string().openapi({ description: '`<state>.<version>`; send it back as `Last-Event-ID`' }),
      data: z.string().openapi({
        contentMediaType: 'application/json',
        contentSchema: { $ref: `#/components/schemas/${dataSchema}` },
      } as object),
    })
    .openapi({ description });
}

const JobEventSchema = z
  .union([
    sseEvent('state', 'The job entered a new state', 'JobStateEvent'),
    sseEvent('progress', 'Progress changed (also sent with each `state`)', 'JobProgressEvent'),
    sseEvent('end', 'The job ended; its last view. The stream closes after it.', 'Job'),
  ])
  .openapi('JobEvent');

const eventsRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/events',
  operationId: 'jobs.events',
  tags: ['jobs'],
  summary: 'Server-sent events: `progress` on every change, `state` on each state change, `end` at the end',
  description:
    'Each event carries an id; reconnect with `Last-Event-ID` to skip what was seen. A `: keep-alive` comment ' +
    'is sent when idle. The stream closes after `end`, and within a few seconds of its API key being revoked. ' +
    'An API key may hold a limited number of open streams (SSE and WebSocket together); beyond it, 429.',
  security: [{ bearer: [] }],
  request: {
    params: JobIdParam,
    headers: z.object({
      'last-event-id': safe(z.string().max(200))
        .optional()
        .openapi({ param: { name: 'last-event-id', in: 'header' } }),
    }),
  },
  responses: {
    200: {
      description: 'An event stream: `state`, `progress` and `end` events, and `: keep-alive` comments',
      content: { 'text/event-stream': { schema: JobEventSchema } },
    },
    ...problemResponses(401, 404, 429),
  },
});

export function registerJobRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, hub: JobWatchHub): void {
  const { db } = deps.database;
  const keepAliveMs = deps.config.EVENTS_KEEPALIVE_MS;
  // The events' data schemas, referred to by `contentSchema` only.
  app.openAPIRegistry.register('JobStateEvent', JobStateEventSchema);
  app.openAPIRegistry.register('JobProgressEvent', JobProgressEventSchema);

  app.openapi(listRoute(), async (c) => {
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
    const principal = c.get('principal');
    const job = await visibleJob(db, c.req.valid('param').id, principal);
    const lastEventId = c.req.valid('header')['last-event-id'];
    let wake: (() => void) | undefined;
    let revoked = false;
    // The key's slot, held until the stream ends; its recheck ends the stream if the key is revoked.
    const lease = hub.streams.open(principal.keyId, () => {
      revoked = true;
      wake?.();
    });
    if (!lease) throw tooManyStreams(deps.config.STREAMS_PER_KEY_MAX);
    return streamSSE(c, async (stream) => {
      let pending: JobSnapshot | undefined;
      let unwatch: (() => void) | undefined;
      let lastId = lastEventId;
      let lastState = lastEventId?.split('.')[0];
      try {
        unwatch = hub.watch(job.id, (s) => {
          pending = s;
          wake?.();
        });
        stream.onAbort(() => wake?.());
        while (!stream.aborted && !revoked) {
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
            if (!woke && !stream.aborted && !revoked) await stream.write(': keep-alive\n\n');
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
        if (revoked && !stream.aborted) await stream.write(': closed: the API key was revoked\n\n');
      } finally {
        unwatch?.();
        lease.release();
      }
    });
  });
}
