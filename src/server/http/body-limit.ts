/**
 * Request bodies: the limit (API_BODY_LIMIT_BYTES), and how a connection ends when its body was not read.
 *
 * A body over the limit is 413 problem+json before anything parses it: a declared Content-Length over
 * the limit is refused without reading the body, a streamed (chunked) body is counted as it arrives
 * and refused as soon as it passes the limit.
 *
 * Any answer given before the body was read (that 413, a 401, a 415, a 422 for the query, a 404) ends
 * its connection (`Connection: close`). Otherwise the client reuses the socket for its next request
 * while the server is still discarding the unread body, which @hono/node-server gives up on after
 * 500 ms by destroying the socket: on a loaded server the next request then fails with "other side
 * closed" instead of getting an answer.
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
    // The rest of the body is never read (RFC 9110 §15.5.14).
    { connection: 'close' },
  );
}

function hasBody(headers: Headers): boolean {
  const length = headers.get('content-length');
  return headers.has('transfer-encoding') || (length !== null && length !== '0');
}

export function requestBodyLimit(maxBytes: number): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => problemResponse(c, payloadTooLarge(maxBytes)),
  });
  return async (c, next) => {
    // The 413 itself, or (from next()) nothing to answer here.
    const refused: unknown = await limit(c, next);
    if (refused instanceof Response) return refused;
    if (hasBody(c.req.raw.headers) && !c.req.raw.bodyUsed) {
      try {
        c.res.headers.set('connection', 'close');
      } catch {
        // Immutable headers (a Response from elsewhere): answer with a copy that says it.
        const res = new Response(c.res.body, c.res);
        res.headers.set('connection', 'close');
        c.res = res;
      }
    }
  };
}
