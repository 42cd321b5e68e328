/**
 * The job WebSocket on the real stack: one connection follows all of a user's jobs (authenticated by a
 * first message, never the URL), another follows only the job it subscribed to, and a reconnect with
 * `since` still learns the final state of a job that finished while it was away. A socket must
 * authenticate within WS_AUTH_TIMEOUT_MS of opening, whatever it sends meanwhile, and its first message
 * must be a valid auth message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { seedTenant } from '../helpers/data.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { openJobSocket } from '../helpers/ws.js';

let stack: Stack;
const AUTH_TIMEOUT_MS = 1500;

beforeAll(async () => {
  stack = await startStack({
    env: {
      EXPORT_PART_ROWS: '500',
      EXPORT_MAX_ROWS_PER_SEC: '5000',
      EVENTS_POLL_INTERVAL_MS: '200',
      WS_AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS),
    },
  });
});

afterAll(async () => {
  await stack?.stop();
});

/** Open a socket and collect its messages. */
const connect = (headers: Record<string, string> = {}) => openJobSocket(stack.baseUrl, headers);

async function submit(key: string): Promise<string> {
  const res = await api(stack, key)('/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
  });
  return ((await res.json()) as { id: string }).id;
}

describe('GET /v1/ws', () => {
  it('follows all of the caller’s jobs on one connection, or only the subscribed ones', async () => {
    const tenant = await seedTenant(stack.database.sql, 12_000);
    const { key } = await stack.newUser(tenant);
    const all = await connect();
    all.send({ type: 'auth', key });
    await all.waitFor((m) => m.type === 'ready');

    const first = await submit(key);
    const second = await submit(key);
    const some = await connect({ authorization: `Bearer ${key}` });
    await some.waitFor((m) => m.type === 'ready');
    some.send({ type: 'subscribe', jobs: [second] });
    await some.waitFor((m) => m.type === 'ready' && Array.isArray(m.following));

    for (const id of [first, second]) {
      await all.waitFor((m) => m.type === 'end' && m.jobId === id, 60_000);
    }
    const states = (id: string) =>
      all.messages.filter((m) => m.type === 'job' && m.jobId === id).map((m) => m.state);
    expect(states(first)).toContain('succeeded');
    expect(states(second).at(-1)).toBe('succeeded');
    const running = all.messages.filter((m) => m.type === 'job' && m.state === 'running');
    expect(running.some((m) => (m.progress?.done ?? 0) > 0)).toBe(true);

    await some.waitFor((m) => m.type === 'end' && m.jobId === second, 60_000);
    const subscribed = some.messages.findIndex((m) => m.type === 'ready' && Array.isArray(m.following));
    expect(some.messages.slice(subscribed).filter((m) => m.jobId === first)).toEqual([]);
    expect(some.messages.slice(subscribed).some((m) => m.jobId === second)).toBe(true);

    // Another user's job id cannot be followed.
    const stranger = await stack.newUser(tenant);
    const theirs = await connect({ authorization: `Bearer ${stranger.key}` });
    theirs.send({ type: 'subscribe', jobs: [first] });
    const err = await theirs.waitFor((m) => m.type === 'error');
    expect(err.code).toBe('not-found');

    for (const c of [all, some, theirs]) c.ws.close();
  });

  it('keeps the latest state across a reconnect', async () => {
    const tenant = await seedTenant(stack.database.sql, 100);
    const { key } = await stack.newUser(tenant);
    const before = await connect();
    before.send({ type: 'auth', key });
    await before.waitFor((m) => m.type === 'ready');
    const lastSeen = new Date().toISOString();
    before.ws.close();
    // The job runs and ends while nobody is connected.
    const id = await submit(key);
    await eventually(async () => {
      const j = (await (await api(stack, key)(`/v1/jobs/${id}`)).json()) as { state: string };
      return j.state === 'succeeded' ? j : undefined;
    }, 60_000);
    const after = await connect();
    after.send({ type: 'auth', key, since: lastSeen });
    const end = await after.waitFor((m) => m.type === 'end' && m.jobId === id);
    expect(end.type).toBe('end');
    after.ws.close();
  });

  it('refuses a bad key, a missing auth message and malformed messages', async () => {
    const bad = await connect();
    bad.send({ type: 'auth', key: 'ofk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' });
    await eventually(() => Promise.resolve(bad.closeCode()));
    expect(bad.closeCode()).toBe(4401);

    const early = await connect();
    early.send({ type: 'subscribe', jobs: 'all' });
    await eventually(() => Promise.resolve(early.closeCode()));
    expect(early.closeCode()).toBe(4401);

    // Before authenticating, a message that is not even valid closes the socket as well.
    for (const junk of ['not json', JSON.stringify({ type: 'hello' })]) {
      const c = await connect();
      c.ws.send(junk);
      await eventually(() => Promise.resolve(c.closeCode()));
      expect(c.closeCode(), junk).toBe(4401);
    }

    const { key } = await stack.newUser('t-ws');
    const c = await connect({ authorization: `Bearer ${key}` });
    await c.waitFor((m) => m.type === 'ready');
    c.ws.send('not json');
    c.send({ type: 'subscribe', jobs: ['../etc/passwd'] });
    await eventually(() =>
      Promise.resolve(c.messages.filter((m) => m.type === 'error').length >= 2 ? true : undefined),
    );
    expect(c.messages.filter((m) => m.type === 'error').map((m) => m.code)).toEqual([
      'malformed',
      'invalid-message',
    ]);
    c.ws.close();

    // Any other upgrade path is refused.
    const other = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}/v1/elsewhere`);
    const failed = await new Promise<boolean>((resolve) => {
      other.once('open', () => resolve(false));
      other.once('error', () => resolve(true));
    });
    expect(failed).toBe(true);
  });

  it('closes a socket not authenticated in time, however much it sends meanwhile', async () => {
    const { key } = await stack.newUser('t-ws');
    // Opened first and authenticated at once: its deadline passes too, and it stays open.
    const authed = await connect();
    authed.send({ type: 'auth', key });
    await authed.waitFor((m) => m.type === 'ready');
    const silent = await connect();
    // Traffic without an auth message: pings, and the pieces of a message it never finishes.
    const busy = await connect();
    busy.ws.send('{"type":"auth","key":"', { fin: false });
    const traffic = setInterval(() => {
      if (busy.ws.readyState !== WebSocket.OPEN) return;
      busy.ws.ping();
      busy.ws.send('x', { fin: false });
    }, 100);
    try {
      for (const c of [busy, silent]) {
        await eventually(() => Promise.resolve(c.closeCode()), AUTH_TIMEOUT_MS * 10);
        expect(c.closeCode()).toBe(4401);
        const error = c.messages.find((m) => m.type === 'error');
        expect(error?.code).toBe('unauthorized');
        expect(error?.message).toMatch(/in time/);
      }
    } finally {
      clearInterval(traffic);
    }
    expect(authed.closeCode()).toBeUndefined();
    expect(authed.ws.readyState).toBe(WebSocket.OPEN);
    authed.ws.close();
  });
});
