/** zod schemas of the API's bodies and responses; the OpenAPI document is generated from these. */
import { z } from '@hono/zod-openapi';
import { DATASETS, getDataset } from '../datasets/registry.js';
import { checkExportRequest } from '../datasets/query.js';
import {
  AUDIO_FORMATS,
  AUDIO_PITCH_RANGE,
  AUDIO_RATE_RANGE,
  EXPORT_FORMATS,
  JOB_KINDS,
  JOB_STATES,
  type ExportFilters,
} from '../shared/jobs.js';
import { notifyFields } from './notify-fields.js';

// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const SAFE_FILE_NAME = /^[^/\\\u0000-\u001f\u007f]+$/;

/** The job's Temporal priority key, accepted by every job-creating body. */
export const priorityField = z
  .int('must be a whole number from 1 to 5')
  .min(1, 'must be from 1 (highest) to 5 (lowest)')
  .max(5, 'must be from 1 (highest) to 5 (lowest)')
  .optional()
  .openapi({
    description: 'Temporal priority key, 1 (first) to 5 (last); default 3. Your key may limit the highest.',
  });

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
    filters: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({
        description:
          'Filters by name: `{"from": …, "to": …}` (from inclusive, to exclusive) for date and amount ranges, ' +
          'or a list of values (e.g. `"status": ["paid"]`). Each dataset lists its filters.',
        example: { created_at: { from: '2024-01-01', to: '2024-02-01' }, status: ['paid', 'shipped'] },
      }),
    sort: z
      .strictObject({
        column: z.string(),
        direction: z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).default('asc'),
      })
      .optional()
      .openapi({
        description: 'Sort column and direction; the key breaks ties. Default: by key, ascending.',
      }),
    bom: z.boolean().optional().openapi({ description: 'CSV only: start with a UTF-8 BOM (for Excel).' }),
    title: z.string().min(1).max(200).optional().openapi({ description: 'PDF only: title on every page.' }),
    fileName: z
      .string()
      .min(1)
      .max(200)
      .regex(SAFE_FILE_NAME, 'must not contain slashes or control characters')
      .optional(),
    ...notifyFields,
    priority: priorityField,
  })
  .superRefine((body, ctx) => {
    const ds = getDataset(body.dataset);
    if (!ds) return;
    const request = { ...body, filters: body.filters as ExportFilters | undefined };
    for (const issue of checkExportRequest(ds, request))
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    if (body.bom !== undefined && body.format !== 'csv')
      ctx.addIssue({ code: 'custom', path: ['bom'], message: 'only for format csv' });
    if (body.title !== undefined && body.format !== 'pdf')
      ctx.addIssue({ code: 'custom', path: ['title'], message: 'only for format pdf' });
  })
  .openapi('ExportRequest');

// C0 and C1 control characters except tab, line feed and carriage return.
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** The body of POST /v1/audio; the text limit comes from the config (AUDIO_MAX_TEXT_CHARS). */
export function audioRequestSchema(maxChars: number) {
  return z
    .strictObject({
      text: z
        .string()
        .min(1, 'must not be empty')
        .max(maxChars, `must be at most ${maxChars} characters`)
        .refine((t) => t.trim().length > 0, 'must contain something to say, not only spaces')
        .refine(
          (t) => !CONTROL_CHARS.test(t),
          'must not contain control characters (tabs and line breaks are fine)',
        )
        .openapi({ example: 'Hello. This is offload speaking.' }),
      voice: z
        .string()
        .min(1)
        .max(100)
        .optional()
        .openapi({ example: 'en-us', description: 'A voice id from GET /v1/voices.' }),
      language: z
        .string()
        .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, 'must be a language tag such as en, en-GB or vi')
        .optional()
        .openapi({ description: 'Instead of `voice`: a voice that speaks this language is chosen.' }),
      rate: z
        .number({ error: 'must be a number' })
        .min(AUDIO_RATE_RANGE.min, `must be between ${AUDIO_RATE_RANGE.min} and ${AUDIO_RATE_RANGE.max}`)
        .max(AUDIO_RATE_RANGE.max, `must be between ${AUDIO_RATE_RANGE.min} and ${AUDIO_RATE_RANGE.max}`)
        .default(1)
        .openapi({ description: 'Speaking rate, 1 = normal (about 175 words a minute).' }),
      pitch: z
        .number({ error: 'must be a number' })
        .min(AUDIO_PITCH_RANGE.min, `must be between ${AUDIO_PITCH_RANGE.min} and ${AUDIO_PITCH_RANGE.max}`)
        .max(AUDIO_PITCH_RANGE.max, `must be between ${AUDIO_PITCH_RANGE.min} and ${AUDIO_PITCH_RANGE.max}`)
        .default(50)
        .openapi({ description: "Pitch, 50 = the voice's normal pitch." }),
      format: z.enum(AUDIO_FORMATS, { error: `must be one of: ${AUDIO_FORMATS.join(', ')}` }).default('mp3'),
      fileName: z
        .string()
        .min(1)
        .max(200)
        .regex(SAFE_FILE_NAME, 'must not contain slashes or control characters')
        .optional(),
      ...notifyFields,
      priority: priorityField,
    })
    .refine((b) => b.voice === undefined || b.language === undefined, {
      message: 'give voice or language, not both',
      path: ['language'],
    })
    .openapi('AudioRequest');
}

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
    request: z.union([
      z.object({
        dataset: z.string(),
        format: z.enum(EXPORT_FORMATS),
        columns: z.array(z.string()).optional(),
        filters: z.record(z.string(), z.unknown()).optional(),
        sort: z.object({ column: z.string(), direction: z.enum(['asc', 'desc']) }).optional(),
        bom: z.boolean().optional(),
        title: z.string().optional(),
        fileName: z.string().optional(),
      }),
      z.object({
        voice: z.string(),
        rate: z.number(),
        pitch: z.number(),
        format: z.enum(AUDIO_FORMATS),
        fileName: z.string().optional(),
        characters: z.number().openapi({ description: 'Length of the text (the text is not repeated).' }),
      }),
    ]),
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
        rows: z.number().optional().openapi({ description: 'Exports: rows in the file.' }),
        format: z.enum(AUDIO_FORMATS).optional(),
        durationSeconds: z.number().optional().openapi({ description: 'Audio: length of the speech.' }),
        sampleRate: z.number().optional().openapi({ description: 'Audio: samples per second.' }),
        characters: z.number().optional(),
        chunks: z.number().optional(),
        engine: z.string().optional().openapi({ description: 'Audio: engine and version that spoke it.' }),
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
    403: 'Not allowed for this key, or a tampered or expired link',
    409: 'The job is not in a state that allows this',
    410: 'The result file has expired',
    416: 'The requested range is not satisfiable',
    426: 'This route needs a WebSocket upgrade',
    422: 'Validation failed; `errors` names each field',
    429: 'Too many requests (see `Retry-After` and `RateLimit`), or too many of your jobs queued or running',
    503: 'Too many heavy jobs waiting overall, or a service the request needs is down; see `Retry-After`',
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

export const IdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({
      param: { name: 'idempotency-key', in: 'header' },
      description: 'Same key and body within 24 hours: the same job, no second workflow',
    }),
});

/**
 * Request and responses of a job-creating route (`POST /v1/exports`, `POST /v1/audio`): the body in
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
