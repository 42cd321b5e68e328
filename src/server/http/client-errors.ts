/**
 * Requests Node's HTTP parser refuses before the app sees them (a head over 16 KiB, a malformed request
 * line or header, a bad chunked body): answered as problem+json like every other error, instead of
 * Node's bare `400 Bad Request`/`431` without a body. The connection is closed after the answer.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE } from './problem.js';

interface ParserError extends Error {
  code?: string;
}

const ANSWERS: Record<string, [status: number, code: string, title: string, detail: string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    'headers-too-large',
    'Request Header Fields Too Large',
    'the request line and headers exceed the server limit (16 KiB)',
  ],
  HPE_REQUEST_TIMEOUT: [408, 'request-timeout', 'Request Timeout', 'the request was not received in time'],
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    'request-timeout',
    'Request Timeout',
    'the request was not received in time',
  ],
};
const MALFORMED: [number, string, string, string] = [
  400,
  'malformed-request',
  'Bad Request',
  'the request is not valid HTTP/1.1',
];

/** The raw HTTP/1.1 answer for a parser error (exported for tests). */
export function clientErrorAnswer(err: ParserError): string {
  const [status, code, title, detail] = ANSWERS[err.code ?? ''] ?? MALFORMED;
  const body = JSON.stringify({ type: `/problems/${code}`, title, status, detail });
  return [
    `HTTP/1.1 ${status} ${title}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: ParserError, socket: Duplex) => {
    // A reset or a socket already answered on (a response under way) takes no second answer.
    const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorAnswer(err));
  });
}
