/**
 * RFC 9457 problem details: every error the API returns has this shape and content type. The error to
 * throw (`HttpProblem`), its response, and its schema for the OpenAPI document (`problemResponses`).
 */
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export interface FieldError {
  field: string;
  in: 'body' | 'query' | 'path' | 'header';
  reason: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An error that maps to a problem response; throw it from handlers and middleware. */
export class HttpProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
    this.name = 'HttpProblem';
  }
}

export function problemBody(c: Context, p: HttpProblem): Problem {
  return {
    type: `/problems/${p.code}`,
    title: p.title,
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    instance: c.req.path,
    ...p.extra,
  };
}

export function problemResponse(c: Context, p: HttpProblem): Response {
  return new Response(JSON.stringify(problemBody(c, p)), {
    status: p.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...p.headers },
  });
}

export const problems = {
  unauthorized: (detail: string) =>
    new HttpProblem(
      401,
      'unauthorized',
      'Unauthorized',
      detail,
      {},
      { 'www-authenticate': 'Bearer realm="offload"' },
    ),
  notFound: (what: string) => new HttpProblem(404, 'not-found', 'Not Found', `${what} was not found`),
  validation: (errors: FieldError[]) =>
    new HttpProblem(
      422,
      'validation-error',
      'Your request is not valid',
      errors.map((e) => `${e.field}: ${e.reason}`).join('; '),
      { errors },
    ),
  conflict: (detail: string, extra: Record<string, unknown> = {}) =>
    new HttpProblem(409, 'conflict', 'Conflict', detail, extra),
};

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

const problemContent = { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } };

/** A response header as the OpenAPI document declares it. */
interface HeaderDoc {
  description: string;
  required?: boolean;
  schema: { type: 'string' | 'integer'; minimum?: number; pattern?: string };
}

/** The headers of the request rate limit (src/server/http/rate-limit.ts), on every rate-limited answer. */
export const RATE_LIMIT_HEADERS: Record<string, HeaderDoc> = {
  RateLimit: {
    description: 'Requests left in the window and seconds until the bucket is full: `"per-user";r=41;t=1`',
    schema: { type: 'string' },
  },
  'RateLimit-Policy': {
    description: 'The quota: `"per-user";q=60;w=3` (q requests per w seconds)',
    schema: { type: 'string' },
  },
};

const RETRY_AFTER: HeaderDoc = {
  description: 'Seconds to wait before trying again',
  schema: { type: 'integer', minimum: 0 },
};

const descriptions: Record<number, string> = {
  400: 'Malformed request: a body that is not JSON, or no body where one is required',
  401: 'Missing or invalid API key',
  404: 'No such job (or not yours)',
  403: 'Not allowed for this key, or a tampered or expired link',
  405: 'The path exists but not with this method; `Allow` lists its methods',
  409: 'The job is not in a state that allows this',
  410: 'The result file has expired',
  413: 'The request body is too large',
  415: 'The request body is not `application/json`',
  416: 'The requested range is not satisfiable',
  426: 'This route needs a WebSocket upgrade',
  422: 'Validation failed; `errors` names each field',
  429: 'Too many requests (see `Retry-After` and `RateLimit`), or too many of your jobs queued or running, or too many open streams',
  503: 'Too many heavy jobs waiting overall, or a service the request needs is down or too slow; see `Retry-After`',
};

/** Headers a problem response of this status carries. */
const problemHeaders: Record<number, Record<string, HeaderDoc>> = {
  401: {
    'WWW-Authenticate': {
      description: '`Bearer realm="offload"`',
      required: true,
      schema: { type: 'string' },
    },
  },
  405: {
    Allow: { description: 'The methods this path answers', required: true, schema: { type: 'string' } },
  },
  // Retry-After on a rate-limited request; a cap on jobs or streams has none (wait for one to end).
  429: { 'Retry-After': RETRY_AFTER, ...RATE_LIMIT_HEADERS },
  416: {
    'Content-Range': { description: '`bytes */<size>`', required: true, schema: { type: 'string' } },
  },
  503: { 'Retry-After': RETRY_AFTER },
};

/** One problem response of the OpenAPI document, with the usual description and headers of its status. */
export function problemResponseDoc(status: number, description?: string) {
  return {
    description: description ?? descriptions[status] ?? 'Error',
    ...(problemHeaders[status] ? { headers: problemHeaders[status] } : {}),
    content: problemContent,
  };
}

/** The problem responses a route declares, by status, with the usual description and headers of each. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, problemResponseDoc(s)]));
}
