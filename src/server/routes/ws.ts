/**
 * `GET /v1/ws` (WebSocket): one connection follows all of the caller's jobs, or the ones it subscribes to,
 * with the same snapshots as the SSE stream, from the same shared pollers. The API key never goes in the
 * URL: send it as `Authorization: Bearer` on the upgrade, or (from a browser) as the first message
 * `{"type":"auth","key":"…"}`. After a reconnect, `since` (the time of the last message seen) makes the
 * server send every job that changed meanwhile, so no final state is lost.
 *
 * Client → server: `auth {key, jobs?, since?}`, `subscribe {jobs: [ids] | "all"}`, `unsubscribe {jobs}`.
 * Server → client: `ready {following}`, `job {id, jobId, state, progress, job}`, `end {jobId, job}`,
 * `error {code, message}`.
 *
 * Until it authenticates, a connection gets WS_AUTH_TIMEOUT_MS from its opening (messages do not extend
 * it) and no second chance: anything but a valid auth message closes it. Close codes: 4401 no or a bad
 * key, a message other than a valid auth before authenticating, no auth in time, or the key revoked
 * while connected (open streams recheck their key every STREAMS_KEY_CHECK_MS); 4429 the key already
 * holds STREAMS_PER_KEY_MAX streams (SSE and WebSocket together) on this API process. The `error`
 * message sent before the close says which (`code`).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { listFollowable } from '../../db/jobs-list.js';
import { getJobFor } from '../../db/jobs-repo.js';
import { authenticate, type Principal } from '../../db/users-repo.js';
import { isJobId } from '../../lib/ids.js';
import { INSTANT_RANGE, instantProblem } from '../../shared/input.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { HttpProblem, problemResponses } from '../http/problem.js';
import type { StreamLease } from '../http/stream-guard.js';
import type { JobSnapshot, JobWatchHub } from '../jobs/job-watch.js';

export const WS_PATH = '/v1/ws';
/** Close codes of the job socket (4000-4999 are the application's). */
export const WS_CLOSE = {
  unauthorized: 4401,
  tooManyStreams: 4429,
} as const;
const PING_MS = 30_000;
const MAX_SUBSCRIPTIONS = 500;

const JobIds = z.array(z.string().refine(isJobId, 'not a job id')).max(MAX_SUBSCRIPTIONS);
const ClientMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('auth'),
    key: z.string().max(200),
    jobs: JobIds.or(z.literal('all')).optional(),
    // A real date in years 0001-9999: it goes to PostgreSQL as a Date.
    since: z.iso
      .datetime({ offset: true, abort: true })
      .refine((s) => instantProblem(Date.parse(s)) === undefined, `must be ${INSTANT_RANGE}`)
      .optional(),
  }),
  z.object({ type: z.literal('subscribe'), jobs: JobIds.or(z.literal('all')) }),
  z.object({ type: z.literal('unsubscribe'), jobs: JobIds }),
]);

class Connection {
  private principal?: Principal;
  private lease?: StreamLease;
  private mode: 'all' | 'some' = 'all';
  private readonly watching = new Map<string, () => void>();
  private readonly lastSent = new Map<string, string>();
  private scanTimer?: NodeJS.Timeout;
  private since = new Date();
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: AppDeps,
    private readonly hub: JobWatchHub,
    /** Called once the connection has authenticated (stops its authentication deadline). */
    private readonly onAuthenticated: () => void,
  ) {}

  get authenticated(): boolean {
    return this.principal !== undefined;
  }

  private get open(): boolean {
    return !this.closed && this.ws.readyState === this.ws.OPEN;
  }

  send(msg: Record<string, unknown>): void {
    if (this.open) this.ws.send(JSON.stringify(msg));
  }

  /** Tell the client why, close the socket, and stop following at once (not when the close completes). */
  fail(code: number, error: string, message: string): void {
    this.send({ type: 'error', code: error, message });
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, error);
    }
    this.close();
  }

  async start(principal: Principal, jobs: string[] | 'all' | undefined, since?: string): Promise<void> {
    // Closed meanwhile (the deadline passed while the key was being checked): take no slot.
    if (!this.open) return;
    const lease = this.hub.streams.open(principal.keyId, () =>
      this.fail(WS_CLOSE.unauthorized, 'key-revoked', 'the API key has been revoked'),
    );
    if (!lease) {
      const max = this.deps.config.STREAMS_PER_KEY_MAX;
      return this.fail(
        WS_CLOSE.tooManyStreams,
        'too-many-streams',
        `this API key already has ${max} event streams (SSE and WebSocket) open; close one first`,
      );
    }
    this.lease = lease;
    this.principal = principal;
    this.onAuthenticated();
    if (since) this.since = new Date(since);
    await this.follow(jobs ?? 'all');
  }

  async onMessage(raw: string): Promise<void> {
    if (!this.open) return;
    // Before authenticating, a connection gets one message, and it must be a valid auth message: any
    // other closes it (4401), so no message can keep an unauthenticated socket open.
    const refuse = (error: string, message: string) =>
      this.principal
        ? this.send({ type: 'error', code: error, message })
        : this.fail(WS_CLOSE.unauthorized, error, message);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return refuse('malformed', 'messages must be JSON');
    }
    const msg = ClientMessage.safeParse(parsed);
    if (!msg.success) {
      const issue = msg.error.issues[0];
      return refuse(
        'invalid-message',
        `${issue?.path.join('.') || '(message)'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    const m = msg.data;
    if (m.type === 'auth') {
      if (this.principal)
        return this.send({ type: 'error', code: 'already-authenticated', message: 'already authenticated' });
      const principal = await authenticate(this.deps.database.db, m.key);
      if (!principal)
        return this.fail(
          WS_CLOSE.unauthorized,
          'unauthorized',
          'the API key is not valid or has been revoked',
        );
      return this.start(principal, m.jobs, m.since);
    }
    if (!this.principal)
      return this.fail(
        WS_CLOSE.unauthorized,
        'unauthorized',
        'authenticate first: {"type":"auth","key":"…"}',
      );
    if (m.type === 'subscribe') return this.follow(m.jobs);
    for (const id of m.jobs) this.unwatch(id);
    if (this.mode === 'some') this.send({ type: 'ready', following: [...this.watching.keys()] });
  }

  private async follow(jobs: string[] | 'all'): Promise<void> {
    const principal = this.principal!;
    if (jobs === 'all') {
      this.mode = 'all';
      this.send({ type: 'ready', following: 'all' });
      await this.scan();
      return;
    }
    this.mode = 'some';
    clearTimeout(this.scanTimer);
    // Switching from `all` to a list: stop following everything else.
    for (const id of [...this.watching.keys()]) if (!jobs.includes(id)) this.unwatch(id);
    for (const id of jobs) {
      const job = await getJobFor(this.deps.database.db, id, principal);
      if (!job)
        this.send({ type: 'error', code: 'not-found', message: `job ${id} was not found`, jobId: id });
      else this.watch(id);
    }
    this.send({ type: 'ready', following: [...this.watching.keys()] });
  }

  /** In `all` mode: pick up new jobs and jobs that changed since the last scan. */
  private async scan(): Promise<void> {
    if (this.closed || this.mode !== 'all') return;
    const startedAt = new Date();
    try {
      const rows = await listFollowable(this.deps.database.db, this.principal!.userId, this.since);
      for (const row of rows.reverse()) this.watch(row.id);
      this.since = new Date(startedAt.getTime() - 1000);
    } catch (err) {
      this.deps.log.warn({ err }, 'websocket scan failed');
    }
    if (!this.closed && this.mode === 'all') {
      this.scanTimer = setTimeout(() => void this.scan(), this.deps.config.EVENTS_POLL_INTERVAL_MS);
    }
  }

  private watch(jobId: string): void {
    if (this.watching.has(jobId) || this.watching.size >= MAX_SUBSCRIPTIONS) return;
    const unwatch = this.hub.watch(jobId, (s) => this.onSnapshot(s));
    this.watching.set(jobId, unwatch);
  }

  private unwatch(jobId: string): void {
    this.watching.get(jobId)?.();
    this.watching.delete(jobId);
  }

  private onSnapshot(s: JobSnapshot): void {
    if (s.userId !== this.principal?.userId) return;
    if (this.lastSent.get(s.jobId) !== s.id) {
      this.lastSent.set(s.jobId, s.id);
      this.send({
        type: 'job',
        id: s.id,
        jobId: s.jobId,
        state: s.job.state,
        progress: s.progress,
        job: s.job,
      });
      if (s.terminal) this.send({ type: 'end', jobId: s.jobId, job: s.job });
    }
    // Deferred: the hub is still delivering this snapshot to its listeners.
    if (s.terminal) setImmediate(() => this.unwatch(s.jobId));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.scanTimer);
    for (const id of [...this.watching.keys()]) this.unwatch(id);
    this.lease?.release();
  }
}

/** Serve the job WebSocket on a Node HTTP server. Returns a function that closes every connection. */
export function attachJobSocket(server: Server, deps: AppDeps, hub: JobWatchHub): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname !== WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // The deadline runs from the opening, whatever arrives before it; only authenticating stops it.
      const authTimer = setTimeout(() => {
        if (!conn.authenticated)
          conn.fail(WS_CLOSE.unauthorized, 'unauthorized', 'not authenticated in time');
      }, deps.config.WS_AUTH_TIMEOUT_MS);
      const conn = new Connection(ws, deps, hub, () => clearTimeout(authTimer));
      const alive = setInterval(() => ws.ping(), PING_MS);
      let queue = Promise.resolve();
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        const text = isBinary ? '' : data.toString('utf8');
        queue = queue
          .then(() => conn.onMessage(text))
          .catch((err: unknown) => deps.log.warn({ err }, 'websocket message failed'));
      });
      ws.on('close', () => {
        clearInterval(alive);
        clearTimeout(authTimer);
        conn.close();
      });
      ws.on('error', () => ws.terminate());
      const header = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (header) {
        queue = queue.then(async () => {
          const principal = await authenticate(deps.database.db, header[1]!);
          if (!principal)
            return conn.fail(
              WS_CLOSE.unauthorized,
              'unauthorized',
              'the API key is not valid or has been revoked',
            );
          await conn.start(principal, 'all');
        });
        queue = queue.catch((err: unknown) => {
          deps.log.warn({ err }, 'websocket authentication failed');
          conn.fail(1011, 'internal', 'the API key could not be checked; reconnect');
        });
      }
    });
  });
  return () => {
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    wss.close();
  };
}

const wsRoute = createRoute({
  method: 'get',
  path: WS_PATH,
  operationId: 'jobs.socket',
  tags: ['jobs'],
  summary: 'WebSocket: follow all your jobs, or the ones you subscribe to (needs an Upgrade request)',
  description:
    'Authenticate with `Authorization: Bearer` on the upgrade or with the first message ' +
    '`{"type":"auth","key":"…","jobs?":[…]|"all","since?":"<ISO time>"}`. Then send ' +
    '`{"type":"subscribe","jobs":[…]|"all"}` or `{"type":"unsubscribe","jobs":[…]}`. The server sends ' +
    '`ready`, `job` (on every change), `end` and `error` messages. A connection that has not authenticated ' +
    'within `WS_AUTH_TIMEOUT_MS` of opening (messages do not extend it), or whose first message is anything ' +
    'but a valid auth message, is closed with 4401; so is one whose key is revoked. One that would exceed ' +
    'the per-key number of open streams (SSE and WebSocket together) is closed with 4429.',
  security: [{ bearer: [] }],
  responses: {
    101: { description: 'Switching to the WebSocket protocol' },
    ...problemResponses(401, 426),
  },
});

/** Document the socket in the OpenAPI document; a plain GET (no Upgrade) gets a 426 problem. */
export function registerSocketRoute(app: OpenAPIHono<AppEnv>): void {
  app.openapi(wsRoute, () => {
    throw new HttpProblem(
      426,
      'upgrade-required',
      'Upgrade Required',
      'connect with a WebSocket client',
      {},
      {
        upgrade: 'websocket',
      },
    );
  });
}
