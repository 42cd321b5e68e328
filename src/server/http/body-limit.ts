/**
 * The request body limit (API_BODY_LIMIT_BYTES): a body over it is 413 problem+json before anything
 * parses it. A declared Content-Length over the limit is refused without reading the body; a streamed
 * (chunked) body is counted as it arrives and refused as soon as it passes the limit.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HttpProblem, problemResponse } from './problem.js';

export function payloadTooLarge(maxBytes: number): HttpProblem {
  return new HttpProblem(
    413,
    'payload-too-large',
    'Payload Too Large',
    `the request body is larger than the limit of ${maxBytes} bytes`,
    { errors: [{ field: '(body)', in: 'body', reason: `must be at most ${maxBytes} bytes` }] },
  );
}

export function requestBodyLimit(maxBytes: number): MiddlewareHandler {
  return bodyLimit({ maxSize: maxBytes, onError: (c) => problemResponse(c, payloadTooLarge(maxBytes)) });
}
