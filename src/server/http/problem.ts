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

/** The problem responses a route declares, by status, with the usual description of each. */
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
        content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
      },
    ]),
  );
}
