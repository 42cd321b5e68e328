/** RFC 9457 problem details: every error the API returns has this shape and content type. */
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
