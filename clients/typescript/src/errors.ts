/**
 * Every failure the client reports is an `OffloadError`, and its class says which failure it is: the API
 * could not be reached, the URL does not point at the offload API, the key was refused, the job does not
 * exist, the request was invalid, and so on. Errors the API answered carry its problem+json body.
 */

/** One field the API refused (`errors[]` of a validation problem). */
export interface FieldError {
  field: string;
  in: 'body' | 'query' | 'path' | 'header';
  reason: string;
}

/** An RFC 9457 problem as the API sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export class OffloadError extends Error {
  override name = 'OffloadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The client was given something it cannot use (an invalid base URL, no API key). */
export class ConfigurationError extends OffloadError {
  override name = 'ConfigurationError';
}

/** No HTTP answer at all: connection refused, DNS failure, reset, TLS failure or a request timeout. */
export class UnreachableError extends OffloadError {
  override name = 'UnreachableError';
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach the offload API at ${url}: ${describeCause(cause)}`, { cause });
  }
}

/** Something answered, but not the offload API (no such route there, or not a problem+json answer). */
export class WrongUrlError extends OffloadError {
  override name = 'WrongUrlError';
  constructor(
    readonly url: string,
    readonly status: number,
    detail: string,
  ) {
    super(`${url} does not answer like the offload API (HTTP ${status}: ${detail}); check the base URL`);
  }
}

/** The API answered with a problem. Subclasses name the common ones. */
export class ApiError extends OffloadError {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly problem: Problem,
    /** Seconds the API asked to wait (Retry-After), if it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${problem.title} (HTTP ${status})${problem.detail ? `: ${problem.detail}` : ''}`);
  }
}

/** 401: the API key is missing, wrong or revoked. */
export class AuthenticationError extends ApiError {
  override name = 'AuthenticationError';
  constructor(status: number, problem: Problem) {
    super(status, problem);
    this.message = `the API key was refused (wrong, revoked or missing): ${problem.detail ?? problem.title}`;
  }
}

/** 403: the key may not do this, or a signed link was tampered with or expired. */
export class ForbiddenError extends ApiError {
  override name = 'ForbiddenError';
}

/** 404: no such job (or not yours). */
export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}

/** 409: the job is not in a state that allows this (e.g. cancelling a finished job). */
export class ConflictError extends ApiError {
  override name = 'ConflictError';
}

/** 410: the job's result file has expired. */
export class ExpiredError extends ApiError {
  override name = 'ExpiredError';
}

/** 400, 413, 415, 422: the request was refused; `fieldErrors` names each field. */
export class ValidationError extends ApiError {
  override name = 'ValidationError';
  get fieldErrors(): FieldError[] {
    return this.problem.errors ?? [];
  }
}

/** 429: rate limited (after the client's own waits), or too many of your jobs or streams at once. */
export class RateLimitedError extends ApiError {
  override name = 'RateLimitedError';
}

/** 503: the API is overloaded or a service it needs is down (after the client's own waits). */
export class UnavailableError extends ApiError {
  override name = 'UnavailableError';
}

/** waitFor or follow ran past its timeout before the job ended. */
export class WaitTimeoutError extends OffloadError {
  override name = 'WaitTimeoutError';
  constructor(
    readonly jobId: string,
    readonly timeoutMs: number,
  ) {
    super(`job ${jobId} did not end within ${timeoutMs} ms`);
  }
}

/** The event stream kept dropping and could not be resumed. */
export class StreamLostError extends OffloadError {
  override name = 'StreamLostError';
}

/**
 * A download that did not complete: the connection kept dropping, or what arrived does not match the
 * file's size or sha256. A file target keeps its `.part` file, which the next download resumes.
 */
export class IncompleteDownloadError extends OffloadError {
  override name = 'IncompleteDownloadError';
  constructor(
    message: string,
    readonly received: number,
    readonly expected: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const inner = cause.cause instanceof Error ? describeCause(cause.cause) : undefined;
    if (inner && cause.message === 'fetch failed') return inner;
    return typeof code === 'string' && !cause.message.includes(code)
      ? `${code} ${cause.message}`
      : cause.message;
  }
  return String(cause);
}

/** The typed error of a problem answer (the body already parsed). */
export function problemError(status: number, problem: Problem, retryAfterSeconds?: number): ApiError {
  switch (status) {
    case 401:
      return new AuthenticationError(status, problem);
    case 403:
      return new ForbiddenError(status, problem);
    case 404:
      return new NotFoundError(status, problem);
    case 409:
      return new ConflictError(status, problem);
    case 410:
      return new ExpiredError(status, problem);
    case 400:
    case 413:
    case 415:
    case 422:
      return new ValidationError(status, problem);
    case 429:
      return new RateLimitedError(status, problem, retryAfterSeconds);
    case 503:
      return new UnavailableError(status, problem, retryAfterSeconds);
    default:
      return new ApiError(status, problem, retryAfterSeconds);
  }
}

const PROBLEM_TYPES = /^application\/(problem\+)?json\b/i;

/**
 * The error for an answer that is not a success: a typed ApiError for the API's problems, WrongUrlError for
 * an answer that is not the offload API's (HTML from another server, or the API's "no route" 404, which a
 * base URL with a wrong path gets).
 */
export async function errorFromResponse(res: Response): Promise<OffloadError> {
  return errorFromBody(res, await res.text().catch(() => ''));
}

/** errorFromResponse for a body already read: its text, or the value openapi-fetch parsed from it. */
export function errorFromBody(res: Response, body: unknown): OffloadError {
  const contentType = res.headers.get('content-type') ?? '';
  const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
  let problem: Problem | undefined;
  if (PROBLEM_TYPES.test(contentType)) {
    try {
      const parsed = (
        typeof body === 'object' && body !== null ? body : JSON.parse(text)
      ) as Partial<Problem>;
      if (typeof parsed.title === 'string' && typeof parsed.type === 'string') problem = parsed as Problem;
    } catch {
      problem = undefined;
    }
  }
  if (!problem) return new WrongUrlError(res.url, res.status, text.slice(0, 120).trim() || res.statusText);
  if (res.status === 404 && problem.detail?.startsWith('no route for ')) {
    return new WrongUrlError(res.url, res.status, problem.detail);
  }
  return problemError(res.status, problem, retryAfter(res.headers));
}

/** Retry-After in seconds (delta-seconds or an HTTP date), if present and sensible. */
export function retryAfter(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
