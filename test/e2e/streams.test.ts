/**
 * The event streams of one API process, SSE and WebSocket together, on the real stack: an API key holds
 * at most STREAMS_PER_KEY_MAX of them (beyond it SSE answers 429 problem+json, as the OpenAPI document
 * declares, and the WebSocket closes with 4429), a closed stream gives its slot back, and revoking a key
 * ends its open streams of both kinds within a few seconds while other keys' streams stay open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertJob } from '../../src/db/jobs-repo.js';
import { createApiKey, revokeApiKey } from '../../src/db/users-repo.js';
import { newJobId } from '../../src/lib/ids.js';
import { workflowIdForJob } from '../../src/shared/temporal.js';
import { readSse } from '../helpers/sse.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { openJobSocket } from '../helpers/ws.js';

const MAX = 2;
let stack: Stack;

beforeAll(async () => {
  // No workers: the jobs followed here stay queued, so their streams stay open until closed.
  stack = await startStack({
    queues: [],
    env: {
      STREAMS_PER_KEY_MAX: String(MAX),
      STREAMS_KEY_CHECK_MS: '200',
      EVENTS_POLL_INTERVAL_MS: '200',
      EVENTS_KEEPALIVE_MS: '300',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** A user with a queued job (never started) and a key; more keys with `anotherKey`. */
async function userWithJob() {
  const { userId, key } = await stack.newUser('t-streams');
  const id = newJobId();
  await insertJob(stack.database.db, {
    id,
    userId,
    tenantId: 't-streams',
    kind: 'export',
    request: { dataset: 'orders', format: 'csv' },
    workflowId: workflowIdForJob(id),
  });
  const [row] = await stack.database.sql<{ id: string }[]>`
    select id from api_keys where user_id = ${userId}`;
  return {
    userId,
    key,
    keyId: row!.id,
    jobId: id,
    anotherKey: () => createApiKey(stack.database.db, userId),
  };
}

/** An SSE request for a job; `abort` ends it from the client side. */
async function openSse(key: string, jobId: string) {
  const ctl = new AbortController();
  const res = await api(stack, key)(`/v1/jobs/${jobId}/events`, { signal: ctl.signal });
  return { res, abort: () => ctl.abort() };
}

/** A WebSocket authenticated by its upgrade header, collecting messages and its close code. */
const openSocket = (key: string) => openJobSocket(stack.baseUrl, { authorization: `Bearer ${key}` });

describe('open event streams per API key', () => {
  it('caps SSE and WebSocket streams together: 429 problem+json, close 4429; a closed stream frees its slot', async () => {
    const user = await userWithJob();
    const first = await openSse(user.key, user.jobId);
    const socket = await openSocket(user.key);
    expect(first.res.status).toBe(200);
    expect(await socket.outcome()).toEqual({ ready: true });
    expect(stack.app.hub.streams.openFor(user.keyId)).toBe(MAX);

    // A third stream of the same key, of either kind, is refused.
    const third = await openSse(user.key, user.jobId);
    expect(third.res.status).toBe(429);
    expect(third.res.headers.get('content-type')).toBe('application/problem+json');
    expect(third.res.headers.get('retry-after')).toBeTruthy();
    const problem = (await third.res.json()) as { type: string; status: number; limit: number };
    expect(problem).toMatchObject({ type: '/problems/too-many-streams', status: 429, limit: MAX });
    const refused = await openSocket(user.key);
    expect(await refused.outcome()).toEqual({ closed: 4429 });
    expect(refused.messages.find((m) => m.type === 'error')?.code).toBe('too-many-streams');

    // The cap is per key: the same user's other key has its own.
    const other = await user.anotherKey();
    const theirs = await openSse(other.key, user.jobId);
    expect(theirs.res.status).toBe(200);

    // Closing a stream gives its slot back, for a stream of the other kind too.
    first.abort();
    socket.ws.close();
    await eventually(() =>
      Promise.resolve(stack.app.hub.streams.openFor(user.keyId) === 0 ? true : undefined),
    );
    const again = await openSocket(user.key);
    expect(await again.outcome()).toEqual({ ready: true });
    const sse = await openSse(user.key, user.jobId);
    expect(sse.res.status).toBe(200);

    for (const s of [theirs, sse]) s.abort();
    again.ws.close();
  });

  it('declares the 429 of the event stream in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: object }> }>>;
    };
    const responses = doc.paths['/v1/jobs/{id}/events']!.get!.responses;
    expect(Object.keys(responses)).toContain('429');
    expect(Object.keys(responses['429']!.content ?? {})).toContain('application/problem+json');
  });

  it('ends the SSE and WebSocket streams of a revoked key within seconds, and only those', async () => {
    const user = await userWithJob();
    const bystander = await userWithJob();
    const sse = await openSse(user.key, user.jobId);
    expect(sse.res.status).toBe(200);
    const socket = await openSocket(user.key);
    expect(await socket.outcome()).toEqual({ ready: true });
    const kept = await openSse(bystander.key, bystander.jobId);
    const keptSocket = await openSocket(bystander.key);
    expect(await keptSocket.outcome()).toEqual({ ready: true });

    const read = readSse(sse.res, () => false, 15_000);
    expect(await revokeApiKey(stack.database.db, user.keyId)).toBe(true);

    // The server ends both: the SSE response finishes, the socket closes with 4401.
    const ended = await read;
    expect(ended.closed).toBe(true);
    expect(ended.comments).toContain('closed: the API key was revoked');
    expect(ended.events.some((e) => e.event === 'end')).toBe(false);
    await eventually(() => Promise.resolve(socket.closeCode()), 15_000);
    expect(socket.closeCode()).toBe(4401);
    expect(socket.messages.find((m) => m.type === 'error')?.code).toBe('key-revoked');
    expect(stack.app.hub.streams.openFor(user.keyId)).toBe(0);
    // The key no longer opens streams at all.
    expect((await openSse(user.key, user.jobId)).res.status).toBe(401);

    // Another key's streams were checked by the same rounds and stay open.
    expect(stack.app.hub.streams.openFor(bystander.keyId)).toBe(2);
    const stillOpen = await readSse(kept.res, (r) => r.comments.includes('keep-alive'), 10_000);
    expect(stillOpen.closed).toBe(false);
    expect(stillOpen.comments).toContain('keep-alive');
    expect(keptSocket.closeCode()).toBeUndefined();
    kept.abort();
    keptSocket.ws.close();
  });
});
