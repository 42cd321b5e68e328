/** zod schemas of the API's bodies and responses; the OpenAPI document is generated from these. */
import { z } from '@hono/zod-openapi';
import { DATASETS, getDataset } from '../datasets/registry.js';
import { EXPORT_FORMATS, JOB_KINDS, JOB_STATES } from '../shared/jobs.js';

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const SAFE_FILE_NAME = /^[^/\\\u0000-\u001f\u007f]+$/;

export const ExportRequestSchema = z
  .strictObject({
    dataset: z
      .string()
      .openapi({ example: 'orders', description: `One of: ${Object.keys(DATASETS).join(', ')}` })
      .refine((name) => getDataset(name) !== undefined, {
        message: `unknown dataset; allowed: ${Object.keys(DATASETS).join(', ')}`,
      }),
    format: z.enum(EXPORT_FORMATS, { error: `must be one of: ${EXPORT_FORMATS.join(', ')}` }),
    columns: z
      .array(z.string())
      .min(1, 'must name at least one column')
      .max(100)
      .optional()
      .openapi({ description: 'Columns in output order; all columns when omitted.' }),
    fileName: z
      .string()
      .min(1)
      .max(200)
      .regex(SAFE_FILE_NAME, 'must not contain slashes or control characters')
      .optional(),
    priority: z
      .int('must be a whole number from 1 to 5')
      .min(1, 'must be from 1 (highest) to 5 (lowest)')
      .max(5, 'must be from 1 (highest) to 5 (lowest)')
      .optional()
      .openapi({
        description:
          'Temporal priority key, 1 (first) to 5 (last); default 3. Your key may limit the highest.',
      }),
  })
  .superRefine((body, ctx) => {
    const ds = getDataset(body.dataset);
    if (!ds) return;
    const allowed = ds.columns.map((c) => c.name);
    const seen = new Set<string>();
    body.columns?.forEach((name, i) => {
      if (!allowed.includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i],
          message: `unknown column; allowed: ${allowed.join(', ')}`,
        });
      } else if (seen.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['columns', i], message: 'column listed twice' });
      }
      seen.add(name);
    });
  })
  .openapi('ExportRequest');

export const ProgressSchema = z
  .object({
    state: z.enum(JOB_STATES),
    done: z.number(),
    total: z.number().nullable(),
    unit: z.enum(['rows', 'characters']),
    percent: z.number(),
    attempt: z.number(),
    etaSeconds: z.number().nullable(),
    message: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .openapi('Progress');

export const JobSchema = z
  .object({
    id: z.string().openapi({ example: 'job_01jd3v7k8m9n0p1q2r3s4t5v6w' }),
    kind: z.enum(JOB_KINDS),
    state: z.enum(JOB_STATES),
    priority: z.number().openapi({ description: 'Priority key of the job: 1 runs first, 5 last' }),
    request: z.object({
      dataset: z.string(),
      format: z.enum(EXPORT_FORMATS),
      columns: z.array(z.string()).optional(),
      fileName: z.string().optional(),
    }),
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
        rows: z.number(),
        sha256: z.string(),
      })
      .nullable(),
    error: z.object({ type: z.string(), message: z.string(), attempts: z.number() }).nullable(),
    workflowId: z.string(),
    links: z.object({ self: z.string(), events: z.string(), download: z.string() }),
  })
  .openapi('Job');

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z
      .array(
        z.object({ field: z.string(), in: z.enum(['body', 'query', 'path', 'header']), reason: z.string() }),
      )
      .optional(),
  })
  .openapi('Problem');

export const JobIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: 'job_01jd3v7k8m9n0p1q2r3s4t5v6w' }),
});

export function problemResponses(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: 'Malformed request',
    401: 'Missing or invalid API key',
    404: 'No such job (or not yours)',
    409: 'The job is not in a state that allows this',
    422: 'Validation failed; `errors` names each field',
    429: 'Too many requests (see `Retry-After` and `RateLimit`), or too many of your jobs queued or running',
    503: 'Too many heavy jobs waiting overall; retry after `Retry-After` seconds',
  };
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: descriptions[s] ?? 'Error',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    ]),
  );
}
