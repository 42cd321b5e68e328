/**
 * The typed client (clients/typescript) against the real stack: exports and audio created, followed,
 * waited for and downloaded; idempotency keys; cancel and retry; and the bad inputs of issue 18, each a
 * typed error: wrong URL, wrong key, unreachable API, missing job, invalid body, an event stream and a
 * download dropped halfway (resumed with Last-Event-ID and Range through a proxy that cuts connections),
 * and Retry-After honoured on 429.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  ConfigurationError,
  ConflictError,
  IncompleteDownloadError,
  NotFoundError,
  OffloadClient,
  RateLimitedError,
  UnavailableError,
  UnreachableError,
  ValidationError,
  WaitTimeoutError,
  WrongUrlError,
  type JobEvent,
} from '../../clients/typescript/src/index.js';
import { freePort } from '../../tools/ports.js';
import { parseCsv, seedTenant, tenantRowsAsText } from '../helpers/data.js';
import { startFaultyProxy, type FaultyProxy } from '../helpers/faulty-proxy.js';
import { api, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
let key: string;
let tenant: string;
let client: OffloadClient;
let scratch: string;
const proxies: FaultyProxy[] = [];
const ROWS = 6_000;

beforeAll(async () => {
  // Small parts and a read-rate cap: an export takes a few seconds, so it can be followed and cancelled.
  stack = await startStack({
    queues: ['jobs', 'exports', 'audio'],
    env: { EXPORT_PART_ROWS: '500', EXPORT_MAX_ROWS_PER_SEC: '3000', EVENTS_POLL_INTERVAL_MS: '200' },
  });
  tenant = await seedTenant(stack.database.sql, ROWS);
  key = (await stack.newUser(tenant)).key;
  client = new OffloadClient({ baseUrl: stack.baseUrl, apiKey: key });
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-client-'));
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await stack?.stop();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

async function proxy(decide: Parameters<typeof startFaultyProxy>[1]): Promise<FaultyProxy> {
  const p = await startFaultyProxy(stack.baseUrl, decide);
  proxies.push(p);
  return p;
}

/** The file as the API serves it, read without the client. */
async function served(jobId: string): Promise<Buffer> {
  const res = await api(stack, key)(`/v1/jobs/${jobId}/download`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('exports through the client', () => {
  it('creates an export, follows its events to the end and downloads a file equal to the rows', async () => {
    const job = await client.createExport({ dataset: 'orders', format: 'csv' });
    expect(job.id).toMatch(/^job_/);
    expect(job.state).toBe('queued');
    expect(job.replayed).toBe(false);

    const events: JobEvent[] = [];
    const final = await client.follow(job, (e) => events.push(e));
    expect(final.state).toBe('succeeded');
    expect(final.result?.rows).toBe(ROWS);
    expect(events.at(-1)?.type).toBe('end');
    expect(events.some((e) => e.type === 'state' && e.data.state === 'running')).toBe(true);
    const done = events.flatMap((e) => (e.type === 'progress' ? [e.data.done] : []));
    expect(done.length).toBeGreaterThan(1);
    expect([...done].sort((a, b) => a - b)).toEqual(done);

    const file = path.join(scratch, 'orders.csv');
    const result = await client.download(final, file);
    const bytes = await fs.readFile(file);
    expect(result).toMatchObject({
      bytes: final.result!.bytes,
      sha256: final.result!.sha256,
      resumedFrom: 0,
    });
    expect(sha256(bytes)).toBe(final.result!.sha256);
    const rows = parseCsv(bytes.toString('utf8')).slice(1);
    expect(rows).toEqual(await tenantRowsAsText(stack.database.sql, tenant));
    await expect(fs.access(`${file}.part`)).rejects.toThrow();
  });

  it('downloads to a stream, with progress up to the file size', async () => {
    const job = await client.waitFor(await client.createExport({ dataset: 'orders', format: 'ndjson' }));
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const seen: number[] = [];
    const result = await client.download(job.id, sink, { onProgress: (received) => seen.push(received) });
    expect(Buffer.concat(chunks).equals(await served(job.id))).toBe(true);
    expect(result.bytes).toBe(job.result!.bytes);
    expect(seen.at(-1)).toBe(job.result!.bytes);
  });

  it('sends an Idempotency-Key by default: the same key replays the job, a new call makes a new one', async () => {
    const key1 = `client-test-${Date.now()}`;
    const first = await client.createExport({ dataset: 'orders', format: 'csv' }, { idempotencyKey: key1 });
    const again = await client.createExport({ dataset: 'orders', format: 'csv' }, { idempotencyKey: key1 });
    expect(again.id).toBe(first.id);
    expect(again.replayed).toBe(true);

    const p = await proxy(() => ({ forward: true }));
    const viaProxy = new OffloadClient({ baseUrl: p.url, apiKey: key });
    const other = await viaProxy.createExport({ dataset: 'orders', format: 'csv' });
    expect(other.id).not.toBe(first.id);
    expect(p.requests[0]?.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    await Promise.all([first, other].map((j) => client.waitFor(j)));
  });

  it('cancels a running export, refuses a second cancel with ConflictError, and retries it as a new job', async () => {
    const job = await client.createExport({ dataset: 'orders', format: 'csv' });
    // Wait for it to run: the first progress event of a running job.
    const controller = new AbortController();
    await client
      .follow(
        job,
        (e) => {
          if (e.type === 'progress' && e.data.state === 'running') controller.abort();
        },
        { signal: controller.signal },
      )
      .catch((err: unknown) => {
        if (!controller.signal.aborted) throw err;
      });
    await client.cancel(job);
    const cancelled = await client.waitFor(job);
    expect(cancelled.state).toBe('cancelled');
    await expect(client.cancel(job)).rejects.toBeInstanceOf(ConflictError);

    const redrive = await client.retry(cancelled);
    expect(redrive.retryOf).toBe(job.id);
    expect((await client.waitFor(redrive)).state).toBe('succeeded');
  });

  it('waitFor rejects with WaitTimeoutError after its timeout and with the reason of an aborted signal', async () => {
    const job = await client.createExport({ dataset: 'orders', format: 'csv' });
    // 6,000 rows at most 3,000 a second: the export takes two seconds or more.
    await expect(client.waitFor(job, { timeout: 100 })).rejects.toBeInstanceOf(WaitTimeoutError);
    const controller = new AbortController();
    const waiting = client.waitFor(job, { signal: controller.signal });
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    expect((await client.waitFor(job)).state).toBe('succeeded');
  });

  it('lists jobs with filters sent as comma lists', async () => {
    const page = await client.listJobs({ state: ['succeeded', 'cancelled'], limit: 2 });
    expect(page.items.length).toBe(2);
    for (const j of page.items) expect(['succeeded', 'cancelled']).toContain(j.state);
    expect(page.nextCursor).not.toBeNull();
    const next = await client.listJobs({ state: ['succeeded', 'cancelled'], cursor: page.nextCursor! });
    expect(next.items.map((j) => j.id)).not.toContain(page.items[0]!.id);
  });
});

describe('audio through the client', () => {
  it('creates speech audio, waits for it and downloads the WAV', async () => {
    const job = await client.createAudio({
      text: 'Hello from the typed client.',
      voice: 'en-us',
      format: 'wav',
    });
    const final = await client.waitFor(job);
    expect(final.state).toBe('succeeded');
    const file = path.join(scratch, 'hello.wav');
    await client.download(final, file);
    const bytes = await fs.readFile(file);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(sha256(bytes)).toBe(final.result!.sha256);
  });
});

describe('dropped connections', () => {
  it('follow resumes a dropped event stream with Last-Event-ID and still sees the end', async () => {
    // The first stream is cut right after its first event, the second in the middle of its first one.
    const p = await proxy((req, i) =>
      !req.path.endsWith('/events')
        ? { forward: true }
        : i === 0
          ? { forward: true, cutAfterEvents: 1 }
          : i === 1
            ? { forward: true, cutAfterBytes: 10 }
            : { forward: true },
    );
    const viaProxy = new OffloadClient({ baseUrl: p.url, apiKey: key });
    const job = await client.createExport({ dataset: 'orders', format: 'csv' });
    const reconnects: (string | undefined)[] = [];
    const events: JobEvent[] = [];
    const final = await viaProxy.follow(job, (e) => events.push(e), {
      reconnectDelayMs: 50,
      onReconnect: (id) => reconnects.push(id),
    });
    expect(final.state).toBe('succeeded');
    const streams = p.requests.filter((r) => r.path.endsWith('/events'));
    expect(streams.length).toBe(3);
    expect(reconnects).toEqual([events[0]!.id, events[0]!.id]);
    expect(streams[0]!.headers['last-event-id']).toBeUndefined();
    // Both reconnections resumed after the one event that had arrived.
    expect(streams[1]!.headers['last-event-id']).toBe(events[0]!.id);
    expect(streams[2]!.headers['last-event-id']).toBe(events[0]!.id);
    expect(events.at(-1)?.type).toBe('end');
    // The server skipped what had been seen: no event arrived twice.
    const keys = events.map((e) => `${e.type} ${e.id}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('a download cut halfway is resumed with Range and If-Range and equals the file', async () => {
    const job = await client.waitFor(await client.createExport({ dataset: 'orders', format: 'csv' }));
    const half = Math.floor(job.result!.bytes / 2);
    const p = await proxy((req, i) =>
      req.path.endsWith('/download') && i === 0 ? { forward: true, cutAfterBytes: half } : { forward: true },
    );
    const file = path.join(scratch, 'resumed.csv');
    const result = await new OffloadClient({ baseUrl: p.url, apiKey: key }).download(job, file, {
      retryDelayMs: 10,
    });
    const downloads = p.requests.filter((r) => r.path.endsWith('/download'));
    expect(downloads.length).toBe(2);
    expect(downloads[0]!.headers.range).toBeUndefined();
    // Resumed after the bytes that had arrived: up to the cut (fetch drops what it had not handed over yet).
    const from = Number(/^bytes=(\d+)-$/.exec(String(downloads[1]!.headers.range))?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(half);
    expect(downloads[1]!.headers['if-range']).toBe(`"${job.result!.sha256}"`);
    expect(result.requests).toBe(2);
    expect((await fs.readFile(file)).equals(await served(job.id))).toBe(true);
  });

  it('a download that cannot finish is an IncompleteDownloadError, keeps its .part, and the next run resumes it', async () => {
    const job = await client.waitFor(await client.createExport({ dataset: 'orders', format: 'csv' }));
    const half = Math.floor(job.result!.bytes / 2);
    // The first answer is cut halfway, and every later request is dropped before any answer.
    const p = await proxy((req, i) =>
      !req.path.endsWith('/download')
        ? { forward: true }
        : i === 0
          ? { forward: true, cutAfterBytes: half }
          : { drop: true },
    );
    const file = path.join(scratch, 'interrupted.csv');
    const failed = new OffloadClient({ baseUrl: p.url, apiKey: key }).download(job, file, {
      maxAttempts: 3,
      retryDelayMs: 10,
    });
    await expect(failed).rejects.toBeInstanceOf(IncompleteDownloadError);
    const err = (await failed.catch((e: unknown) => e)) as IncompleteDownloadError;
    expect(err.expected).toBe(job.result!.bytes);
    expect(err.received).toBeGreaterThan(0);
    expect(err.received).toBeLessThanOrEqual(half);
    await expect(fs.access(file)).rejects.toThrow(); // never reported, nor left, as done
    expect((await fs.stat(`${file}.part`)).size).toBe(err.received);

    const resumed = await client.download(job, file);
    expect(resumed.resumedFrom).toBe(err.received);
    expect((await fs.readFile(file)).equals(await served(job.id))).toBe(true);
    await expect(fs.access(`${file}.part`)).rejects.toThrow();
  });
});

describe('downloads that are not the file', () => {
  it('a stream target resumes after a cut too', async () => {
    const job = await client.waitFor(await client.createExport({ dataset: 'orders', format: 'csv' }));
    const p = await proxy((req, i) =>
      req.path.endsWith('/download') && i === 0
        ? { forward: true, cutAfterBytes: Math.floor(job.result!.bytes / 3) }
        : { forward: true },
    );
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const result = await new OffloadClient({ baseUrl: p.url, apiKey: key }).download(job, sink, {
      retryDelayMs: 10,
    });
    expect(result.requests).toBe(2);
    expect(Buffer.concat(chunks).equals(await served(job.id))).toBe(true);
  });

  it('a .part that is not the start of the file fails the sha256 check: removed, never renamed into place', async () => {
    const job = await client.waitFor(await client.createExport({ dataset: 'orders', format: 'csv' }));
    const file = path.join(scratch, 'foreign.csv');
    await fs.writeFile(`${file}.part`, Buffer.alloc(100, 'x'));
    const err = await client.download(job, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncompleteDownloadError);
    expect((err as Error).message).toMatch(/is not the file: the sha256/);
    await expect(fs.access(file)).rejects.toThrow();
    await expect(fs.access(`${file}.part`)).rejects.toThrow();
    // The next download starts over and succeeds.
    const again = await client.download(job, file);
    expect(again.resumedFrom).toBe(0);
    expect((await fs.readFile(file)).equals(await served(job.id))).toBe(true);
  });
});

describe('bad input: typed errors', () => {
  it('a wrong key is an AuthenticationError', async () => {
    const wrong = new OffloadClient({ baseUrl: stack.baseUrl, apiKey: 'ofk_wrong_key' });
    await expect(wrong.listJobs()).rejects.toBeInstanceOf(AuthenticationError);
    await expect(wrong.listJobs()).rejects.toThrow(/API key was refused/);
  });

  it('an API nobody listens on is an UnreachableError naming the URL', async () => {
    const port = await freePort();
    const down = new OffloadClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: key });
    const err = await down.getJob('job_01jd3v7k8m9n0p1q2r3s4t5v6w').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('a URL that is not the API (a wrong path, or another server) is a WrongUrlError', async () => {
    const wrongPath = new OffloadClient({ baseUrl: `${stack.baseUrl}/api`, apiKey: key });
    await expect(wrongPath.listJobs()).rejects.toBeInstanceOf(WrongUrlError);

    const other = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>hi</h1>'),
    );
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      await expect(new OffloadClient({ baseUrl: url, apiKey: key }).listJobs()).rejects.toBeInstanceOf(
        WrongUrlError,
      );
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('an unknown job is a NotFoundError for status, events, cancel and download; an unfinished one a ConflictError', async () => {
    const missing = 'job_01jd3v7k8m9n0p1q2r3s4t5v6w';
    await expect(client.getJob(missing)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.follow(missing, () => undefined)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.cancel(missing)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.download(missing, path.join(scratch, 'missing'))).rejects.toBeInstanceOf(
      NotFoundError,
    );

    // A job that has not finished: 409, and no empty .part left behind.
    const running = await client.createExport({ dataset: 'orders', format: 'csv' });
    const target = path.join(scratch, 'not-yet.csv');
    await expect(client.download(running, target)).rejects.toBeInstanceOf(ConflictError);
    await expect(fs.access(`${target}.part`)).rejects.toThrow();
    await client.waitFor(running);
  });

  it('an invalid request is a ValidationError naming the field; an invalid base URL a ConfigurationError', async () => {
    const err = await client
      .createExport({ dataset: 'orders', format: 'csv', columns: ['no_such_column'] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).status).toBe(422);
    expect((err as ValidationError).fieldErrors.map((f) => f.field).join(' ')).toMatch(/columns/);
    expect(() => new OffloadClient({ baseUrl: 'localhost:3000' })).toThrow(ConfigurationError);
  });
});

describe('Retry-After', () => {
  const tooMany = (retryAfter?: string) => ({
    respond: {
      status: 429,
      headers: {
        'content-type': 'application/problem+json',
        ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }),
      },
      body: JSON.stringify({ type: '/problems/rate-limited', title: 'Too Many Requests', status: 429 }),
    },
  });

  it('a 429 with Retry-After is waited out and the same request (same Idempotency-Key) sent again', async () => {
    const p = await proxy((req, i) =>
      req.path === '/v1/exports' && i === 0 ? tooMany('1') : { forward: true },
    );
    const job = await new OffloadClient({ baseUrl: p.url, apiKey: key }).createExport({
      dataset: 'orders',
      format: 'csv',
    });
    const posts = p.requests.filter((r) => r.path === '/v1/exports');
    expect(posts.length).toBe(2);
    expect(posts[1]!.headers['idempotency-key']).toBe(posts[0]!.headers['idempotency-key']);
    expect(job.replayed).toBe(false);
    await client.waitFor(job);
  });

  it("waits out the API's own rate limit (429 with Retry-After), or reports it with maxRetries: 0", async () => {
    // An API of its own (no workers) that allows one request a second.
    const limited = await startStack({ queues: [], env: { RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '1' } });
    try {
      const { key: limitedKey } = await limited.newUser('t-client-limited');
      const impatient = new OffloadClient({ baseUrl: limited.baseUrl, apiKey: limitedKey, maxRetries: 0 });
      let refused: unknown;
      for (let i = 0; i < 20 && refused === undefined; i++) {
        refused = await impatient.listJobs().then(
          () => undefined,
          (e: unknown) => e,
        );
      }
      expect(refused).toBeInstanceOf(RateLimitedError);
      expect((refused as RateLimitedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);

      const p = await startFaultyProxy(limited.baseUrl, () => ({ forward: true }));
      proxies.push(p);
      const patient = new OffloadClient({ baseUrl: p.url, apiKey: limitedKey });
      // Every call succeeds; the proxy sees more requests than calls once one was refused and sent again.
      let calls = 0;
      while (p.requests.length === calls && calls < 10) {
        await patient.listJobs();
        calls++;
      }
      expect(p.requests.length).toBeGreaterThan(calls);
    } finally {
      await limited.stop();
    }
  });

  it('a 503 with Retry-After is waited out too, and one still there after maxRetries is an UnavailableError', async () => {
    const unavailable = {
      respond: {
        status: 503,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '0' },
        body: JSON.stringify({ type: '/problems/unavailable', title: 'Service Unavailable', status: 503 }),
      },
    };
    const once = await proxy((req, i) =>
      req.path.split('?')[0] === '/v1/jobs' && i === 0 ? unavailable : { forward: true },
    );
    const page = await new OffloadClient({ baseUrl: once.url, apiKey: key }).listJobs({ limit: 1 });
    expect(Array.isArray(page.items)).toBe(true);
    expect(once.requests.length).toBe(2);

    const always = await proxy(() => unavailable);
    const err = await new OffloadClient({ baseUrl: always.url, apiKey: key, maxRetries: 2 })
      .listJobs()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).retryAfterSeconds).toBe(0);
    expect(always.requests.length).toBe(3);
  });

  it('a 429 without Retry-After (a cap on your jobs) is a RateLimitedError at once', async () => {
    const p = await proxy((req) => (req.path === '/v1/exports' ? tooMany() : { forward: true }));
    const err = await new OffloadClient({ baseUrl: p.url, apiKey: key })
      .createExport({ dataset: 'orders', format: 'csv' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(p.requests.filter((r) => r.path === '/v1/exports').length).toBe(1);
  });
});
