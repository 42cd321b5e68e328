/**
 * Schemas more than one route file uses: the `Job` a job route answers with, the `{id}` path parameter,
 * the fields every job-creating body accepts, and the request and responses of a job-creating route.
 * The OpenAPI document is generated from these and from each route file's own schemas.
 */
import { z } from '@hono/zod-openapi';
import { jobKinds } from '../../kinds/index.js';
import { JOB_STATES } from '../../shared/jobs.js';
import { problemResponses } from '../http/problem.js';
import { KEY_RE } from '../jobs/idempotency.js';
import { fileName, safe } from '../http/safe-text.js';

/**
 * The result's file name, accepted by every job-creating body: one safe path segment (not `.` or `..`,
 * no separators or control characters), since it becomes the last part of the result's storage key.
 */
export const fileNameField = fileName(200).optional().openapi({
  description: 'Name of the result file (at most 200 characters; not . or .., no / \\ or control characters)',
});

/** The job's Temporal priority key, accepted by every job-creating body. */
export const priorityField = z
  .int('must be a whole number from 1 to 5')
  .min(1, 'must be from 1 (highest) to 5 (lowest)')
  .max(5, 'must be from 1 (highest) to 5 (lowest)')
  .optional()
  .openapi({
    description: 'Temporal priority key, 1 (first) to 5 (last); default 3. Your key may limit the highest.',
  });

// The kinds registered when this module loads (src/kinds/index.ts) are the ones the document describes.
const kinds = jobKinds.list();

export const ProgressSchema = z
  .object({
    state: z.enum(JOB_STATES),
    done: z.number(),
    total: z.number().nullable(),
    unit: z.enum([...new Set(kinds.map((k) => k.unit))] as [string, ...string[]]),
    percent: z.number(),
    attempt: z.number(),
    etaSeconds: z.number().nullable(),
    message: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .openapi('Progress');

/** `Job.request`: one branch per kind, as its view shows it. */
function requestSchemas(): z.ZodType {
  const [first, ...rest] = kinds.map((k) => k.view.request);
  if (!first) throw new Error('no job kinds registered');
  return rest.length === 0 ? first : z.union([first, ...rest]);
}

export const JobSchema = z
  .object({
    id: z.string().openapi({ example: 'job_01jd3v7k8m9n0p1q2r3s4t5v6w' }),
    kind: z.enum(jobKinds.names() as [string, ...string[]]),
    state: z.enum(JOB_STATES),
    priority: z.number().openapi({ description: 'Priority key of the job: 1 runs first, 5 last' }),
    request: requestSchemas(),
    progress: ProgressSchema,
    attempts: z.number(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    result: z
      .object({
        fileName: z.string(),
        contentType: z.string(),
        bytes: z.number(),
        sha256: z.string(),
        ...Object.assign({}, ...kinds.map((k) => k.view.resultFields)),
      })
      .nullable(),
    error: z.object({ type: z.string(), message: z.string(), attempts: z.number() }).nullable(),
    notify: z.object({ callbackUrl: z.string().nullable(), email: z.string().nullable() }),
    retryOf: z.string().nullable().openapi({ description: 'The failed or cancelled job this one redrives' }),
    workflowId: z.string(),
    links: z.object({
      self: z.string(),
      events: z.string(),
      download: z.string(),
      cancel: z.string(),
      retry: z.string(),
      deliveries: z.string(),
    }),
  })
  .openapi('Job');

export const JobIdParam = z.object({
  id: safe(z.string()).openapi({
    param: { name: 'id', in: 'path' },
    example: 'job_01jd3v7k8m9n0p1q2r3s4t5v6w',
  }),
});

const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1, 'must be 1-255 visible ASCII characters')
    .max(255, 'must be 1-255 visible ASCII characters')
    .regex(/^[\x21-\x7e]+$/, 'must be 1-255 visible ASCII characters')
    .optional()
    .openapi({
      param: { name: 'idempotency-key', in: 'header' },
      pattern: KEY_RE.source,
      description:
        'Same key and body within 24 hours: the same job, no second workflow; another body is a 422',
    }),
});

/**
 * Request and responses of a job-creating route (one per kind: `POST /v1/exports`, …): the body in
 * `schema`, an optional Idempotency-Key, 202 for a new job and 200 for the job an earlier request with
 * the same key created.
 */
export function jobCreation<S extends z.ZodType>(schema: S) {
  return {
    request: {
      headers: IdempotencyHeader,
      body: { required: true, content: { 'application/json': { schema } } },
    },
    responses: {
      200: {
        description: 'The job an earlier request with the same Idempotency-Key created',
        content: { 'application/json': { schema: JobSchema } },
      },
      202: {
        description: 'Accepted; follow the links',
        content: { 'application/json': { schema: JobSchema } },
      },
      ...problemResponses(400, 401, 409, 422, 429, 503),
    },
  };
}
