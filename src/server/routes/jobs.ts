import { Readable } from 'node:stream';
/** Reading jobs: status with live progress, server-sent events, and the result file. */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { getJobFor, type JobRow } from '../../db/jobs-repo.js';
import type { Principal } from '../../db/users-repo.js';
import { isJobId } from '../../lib/ids.js';
import { TERMINAL_STATES } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { jobView } from '../job-view.js';
import { problems, HttpProblem } from '../problem.js';
import { liveProgress } from '../progress.js';
import { JobIdParam, JobSchema, problemResponses } from '../schemas.js';
import { contentDisposition } from '../content-disposition.js';

const getJobRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  operationId: 'jobs.get',
  tags: ['jobs'],
  summary: 'A job with its live progress',
  security: [{ bearer: [] }],
  request: { params: JobIdParam },
  responses: {
    200: { description: 'The job', content: { 'application/json': { schema: JobSchema } } },
    ...problemResponses(401, 404),
  },
});

const EVENTS_INTERVAL_MS = 1000;
const KEEPALIVE_MS = 15_000;

export function registerJobRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db } = deps.database;

  /** The job if the caller may see it (their own, or any for an admin key); else 404, as if missing. */
  async function ownJob(id: string, principal: Principal): Promise<JobRow> {
    const job = isJobId(id) ? await getJobFor(db, id, principal) : undefined;
    if (!job) throw problems.notFound(`job ${id}`);
    return job;
  }

  app.openapi(getJobRoute, async (c) => {
    const job = await ownJob(c.req.valid('param').id, c.get('principal'));
    return c.json(jobView(job, await liveProgress(deps.temporal, job)), 200);
  });

  app.get('/v1/jobs/:id/events', async (c) => {
    const principal = c.get('principal');
    await ownJob(c.req.param('id'), principal);
    return streamSSE(c, async (stream) => {
      let last = '';
      let lastSentAt = Date.now();
      let seq = 0;
      while (!stream.aborted) {
        const job = await ownJob(c.req.param('id'), principal);
        const progress = await liveProgress(deps.temporal, job);
        const payload = JSON.stringify(progress);
        if (payload !== last) {
          last = payload;
          lastSentAt = Date.now();
          await stream.writeSSE({ id: String(++seq), event: 'progress', data: payload });
        } else if (Date.now() - lastSentAt > KEEPALIVE_MS) {
          lastSentAt = Date.now();
          await stream.write(': keep-alive\n\n');
        }
        if (TERMINAL_STATES.includes(job.state)) {
          await stream.writeSSE({
            id: String(++seq),
            event: 'end',
            data: JSON.stringify({ state: job.state }),
          });
          break;
        }
        await stream.sleep(EVENTS_INTERVAL_MS);
      }
    });
  });

  app.get('/v1/jobs/:id/download', async (c) => {
    const job = await ownJob(c.req.param('id'), c.get('principal'));
    if (job.state !== 'succeeded' || !job.result) {
      throw new HttpProblem(409, 'not-ready', 'The result is not available', `the job is ${job.state}`, {
        state: job.state,
      });
    }
    const info = await deps.storage.stat(job.result.storageKey);
    if (!info) throw new HttpProblem(410, 'gone', 'The result file no longer exists', 'the file has expired');
    const etag = `"${job.result.sha256}"`;
    const headers = {
      'content-type': job.result.contentType,
      'content-length': String(info.size),
      'content-disposition': contentDisposition(job.result.fileName),
      etag,
      'cache-control': 'private, no-cache',
      'x-content-type-options': 'nosniff',
    };
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
    const body = Readable.toWeb(deps.storage.read(job.result.storageKey)) as ReadableStream<Uint8Array>;
    return new Response(body, { status: 200, headers });
  });
}
