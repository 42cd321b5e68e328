/** Acting on a job: cancel a running one, redrive a failed or cancelled one, and the admin dead-letter list. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import { listJobs, encodeCursor } from '../../db/jobs-list.js';
import { findRetryOf, getJob, insertJob, markJobCancelled, type JobRow } from '../../db/jobs-repo.js';
import { newJobId } from '../../lib/ids.js';
import { TERMINAL_STATES } from '../../shared/jobs.js';
import { workflowIdForJob } from '../../shared/temporal.js';
import type { AppDeps } from '../deps.js';
import { visibleJob } from '../visible-job.js';
import type { AppEnv } from '../env.js';
import type { JobStarter } from '../job-starter.js';
import { jobView, progressFromRow } from '../job-view.js';
import { HttpProblem } from '../problem.js';
import { JobIdParam, JobSchema, problemResponses } from '../schemas.js';
import { ListQuery, nextLink, pageFilter } from './jobs.js';

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
    ...problemResponses(401, 404, 409),
  },
});

const DeadLetterSchema = z
  .object({
    items: z.array(JobSchema.extend({ userId: z.string() })),
    nextCursor: z.string().nullable(),
    next: z.string().nullable(),
  })
  .openapi('DeadLetterList');

const deadLettersRoute = createRoute({
  method: 'get',
  path: '/v1/dead-letters',
  operationId: 'deadLetters.list',
  tags: ['jobs'],
  summary:
    'Failed jobs of all users (admin keys only; a user lists their own with GET /v1/jobs?state=failed)',
  security: [{ bearer: [] }],
  request: { query: ListQuery.omit({ state: true }) },
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

export function registerJobActionRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, starter: JobStarter): void {
  const { db } = deps.database;

  app.openapi(cancelRoute, async (c) => {
    const job = await visibleJob(db, c.req.valid('param').id, c.get('principal'));
    if (TERMINAL_STATES.includes(job.state)) throw notActive(job, 'cancelled');
    const log = deps.log.child({ jobId: job.id, workflowId: job.workflowId });
    try {
      // The workflow cancels the heavy activity (which learns it from its next heartbeat), records
      // `cancelled` and deletes the parts.
      await deps.temporal.workflow.getHandle(job.workflowId).cancel();
      log.info('cancellation requested');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      // No workflow yet (the outbox has not started it): cancelling the record is enough.
      await markJobCancelled(db, job.id);
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
    // A failed job kept its parts and checkpoint; a cancelled one deleted them and starts over.
    const resume = old.state === 'failed' && old.checkpoint;
    const id = newJobId();
    let job: JobRow;
    try {
      job = await insertJob(db, {
        id,
        userId: old.userId,
        tenantId: old.tenantId,
        kind: old.kind,
        request: old.request,
        notify: old.notify,
        priority: old.priority,
        workflowId: workflowIdForJob(id),
        retryOf: old.id,
        partsId: resume ? (old.partsId ?? old.id) : null,
        checkpoint: resume ? old.checkpoint : null,
      });
    } catch (err) {
      const again = await findRetryOf(db, old.id);
      if (again) throw conflict(again.id);
      throw err;
    }
    const log = deps.log.child({ jobId: id, workflowId: job.workflowId, retryOf: old.id });
    await starter.startBounded(job, log, () => log.info({ resumeFrom: job.checkpoint }, 'redrive accepted'));
    c.header('location', `/v1/jobs/${id}`);
    return c.json(jobView(job, progressFromRow(job)), 202);
  });

  app.openapi(deadLettersRoute, async (c) => {
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
