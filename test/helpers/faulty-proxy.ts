/**
 * An HTTP proxy in front of a test stack that misbehaves on purpose, request by request: it forwards, cuts
 * the answer's body after some bytes or events (a connection dropped halfway), drops the connection before answering,
 * or answers itself (a 429 with Retry-After). It logs every request's headers, so a test can see what a
 * client sent on its retry (Range, If-Range, Last-Event-ID, Idempotency-Key).
 */
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export type ProxyAction =
  | { forward: true; cutAfterBytes?: number; cutAfterEvents?: number }
  | { drop: true }
  | { respond: { status: number; headers: Record<string, string>; body: string } };

export interface FaultyProxy {
  url: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/** `decide` sees each request and how many came before it on the same path. */
export async function startFaultyProxy(
  target: string,
  decide: (req: ProxiedRequest, samePathIndex: number) => ProxyAction,
): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const seen: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    const index = requests.filter((r) => r.path.split('?')[0] === seen.path.split('?')[0]).length;
    requests.push(seen);
    const action = decide(seen, index);
    if ('drop' in action) {
      req.socket.destroy();
      return;
    }
    if ('respond' in action) {
      res.writeHead(action.respond.status, action.respond.headers).end(action.respond.body);
      return;
    }
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders();
        let sent = 0;
        let limit = action.cutAfterBytes;
        let body = '';
        answer.on('data', (chunk: Buffer) => {
          if (action.cutAfterEvents !== undefined && limit === undefined) {
            // Cut right after the Nth server-sent event (a blank line ends each).
            body += chunk.toString('latin1');
            let end = -1;
            for (let n = 0; n < action.cutAfterEvents; n++) {
              end = body.indexOf('\n\n', end + 1);
              if (end < 0) break;
            }
            if (end >= 0) limit = end + 2;
          }
          if (limit === undefined) {
            sent += chunk.length;
            res.write(chunk);
            return;
          }
          if (sent >= limit) return; // already cut
          const room = limit - sent;
          sent += Math.min(room, chunk.length);
          if (sent < limit) {
            res.write(chunk);
            return;
          }
          answer.destroy();
          // Once the bytes before the cut have left, close the connection mid-body (a FIN, not a reset,
          // so they all arrive).
          res.write(chunk.subarray(0, room), () => res.socket?.end());
        });
        answer.on('end', () => res.end());
        answer.on('error', () => res.destroy());
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
