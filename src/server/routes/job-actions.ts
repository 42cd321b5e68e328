/** Acting on a job: cancel a running one, redrive a failed or cancelled one, and the admin dead-letter list. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import { encodeCursor, listJobs } from '../../db/jobs-list.js';
import { findRetryOf, getJob, markJobCancelled, type JobRow } from '../../db/jobs-repo.js';
import { TERMINAL_STATES } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { HttpProblem, problemResponses } from '../http/problem.js';
import { createJob } from '../jobs/create-job.js';
import { jobView, progressFromRow } from '../jobs/job-view.js';
import { visibleJob } from '../jobs/visible-job.js';
import { listQuery, nextLink, pageFilter } from './job-list-query.js';
import { JobIdParam, JobSchema } from './job-schemas.js';

const cancelRoute = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/cancel',
  operationId: 'jobs.cancel',
  tags: ['jobs'],
  summary: 'Cancel a queued or running job; its partial output is deleted',
  security: [{ bearer: [] }],
  request: { params: JobIdParam },
  responses: {
    202: {
      description: 'Cancellation requested; the job becomes `cancelled` within seconds',
      content: { 'application/json': { schema: JobSchema } },
    },
    ...problemResponses(401, 404, 409),
  },
});

const retryRoute = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/retry',
  operationId: 'jobs.retry',
  tags: ['jobs'],
  summary: 'Redrive a failed or cancelled job as a new job linked to it (resumes from its checkpoint)',
  security: [{ bearer: [] }],
  request: { params: JobIdParam },
  responses: {
    202: {
      description: 'The new job; `retryOf` names the old one',
      content: { 'application/json': { schema: JobSchema } },
    },
    ...problemResponses(401, 404, 409, 429, 503),
  },
});

const DeadLetterSchema = z
  .object({
    items: z.array(JobSchema.extend({ userId: z.string() })),
    nextCursor: z.string().nullable(),
    next: z.string().nullable(),
  })
  .openapi('DeadLetterList');

// Built at registration: the kind filter names the kinds registered by then.
const deadLettersRoute = () =>
  createRoute({
    method: 'get',
    path: '/v1/dead-letters',
    operationId: 'deadLetters.list',
    tags: ['jobs'],
    summary:
      'Failed jobs of all users (admin keys only; a user lists their own with GET /v1/jobs?state=failed)',
    security: [{ bearer: [] }],
    request: { query: listQuery().omit({ state: true }) },
    responses: {
      200: {
        description: 'A page of failed jobs',
        content: { 'application/json': { schema: DeadLetterSchema } },
      },
      ...problemResponses(401, 403, 422),
    },
  });

function notActive(job: JobRow, action: string): HttpProblem {
  return new HttpProblem(
    409,
    'invalid-state',
    'Conflict',
    `the job is ${job.state}; it cannot be ${action}`,
    {
      state: job.state,
    },
  );
}

export function registerJobActionRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db } = deps.database;

  app.openapi(cancelRoute, async (c) => {
    const job = await visibleJob(db, c.req.valid('param').id, c.get('principal'));
    if (TERMINAL_STATES.includes(job.state)) throw notActive(job, 'cancelled');
    const log = deps.log.child({ jobId: job.id, workflowId: job.workflowId });
    const handle = deps.temporal.workflow.getHandle(job.workflowId);
    // Within API_TEMPORAL_TIMEOUT_MS: Temporal out of reach is a 503 then, not a request held for the
    // client's retries (DEADLINE_EXCEEDED is a dependency-unavailable error).
    const cancel = () =>
      deps.temporal.withDeadline(Date.now() + deps.config.API_TEMPORAL_TIMEOUT_MS, () => handle.cancel());
    try {
      // The workflow cancels the heavy activity (which learns it from its next heartbeat), records
      // `cancelled` and deletes the parts.
      await cancel();
      log.info('cancellation requested');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      // No workflow yet (the outbox relay starts it after the 202): cancelling the record is enough. A
      // start landing meanwhile is cancelled by the second try here, or, if it lands after that, by the
      // relay, which finds the row cancelled when it confirms the start (JobStarter.start).
      await markJobCancelled(db, job.id);
      await cancel().catch(() => undefined);
      log.info('cancelled a job whose workflow had not started');
    }
    const fresh = (await getJob(db, job.id))!;
    if (fresh.state === 'succeeded' || fresh.state === 'failed') throw notActive(fresh, 'cancelled');
    return c.json(jobView(fresh, progressFromRow(fresh)), 202);
  });

  app.openapi(retryRoute, async (c) => {
    const principal = c.get('principal');
    const old = await visibleJob(db, c.req.valid('param').id, principal);
    if (old.state !== 'failed' && old.state !== 'cancelled') throw notActive(old, 'retried');
    const existing = await findRetryOf(db, old.id);
    const conflict = (id: string) =>
      new HttpProblem(409, 'already-retried', 'Conflict', `job ${old.id} was already retried as ${id}`, {
        state: old.state,
        retriedBy: id,
      });
    if (existing) throw conflict(existing.id);
    try {
      // Admission as for a new job: the owner's active-job cap and the heavy backlog apply.
      const { job } = await createJob(c, deps, {
        principal,
        kind: old.kind,
        request: old.request,
        notify: old.notify,
        priority: old.priority,
        retryOf: old,
      });
      return c.json(jobView(job, progressFromRow(job)), 202);
    } catch (err) {
      // A concurrent redrive of the same job won (one redrive per job: retry_of is unique).
      const again = await findRetryOf(db, old.id);
      if (again) throw conflict(again.id);
      throw err;
    }
  });

  app.openapi(deadLettersRoute(), async (c) => {
    if (c.get('principal').scope !== 'admin') {
      throw new HttpProblem(
        403,
        'forbidden',
        'Forbidden',
        'the dead-letter list needs an admin key; use GET /v1/jobs?state=failed',
      );
    }
    const q = c.req.valid('query');
    const page = await listJobs(db, { ...pageFilter({ ...q, state: undefined }), states: ['failed'] });
    return c.json(
      {
        items: page.items.map((j) => ({ ...jobView(j, progressFromRow(j)), userId: j.userId })),
        nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null,
        next: nextLink('/v1/dead-letters', c.req.url, page.nextCursor),
      },
      200,
    );
  });
}
