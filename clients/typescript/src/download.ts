/**
 * Downloading a result (GET /v1/jobs/{id}/download) to a file or a writable stream. A connection that drops
 * part way is resumed with `Range` from the bytes already written, guarded by `If-Range` with the file's
 * ETag (its sha256), so the parts always belong to one file. A download is done only when the byte count
 * and the sha256 match the job's result: a file is written to `<path>.part` and renamed into place then,
 * and a `.part` left by an interrupted run is resumed by the next one.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { errorFromResponse, IncompleteDownloadError, UnreachableError } from './errors.js';
import { sleep, type Transport } from './transport.js';

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Requests in a row that may end early before the download is given up (default 5). */
  maxAttempts?: number;
  /** Wait between a dropped connection and its resumption (default 500 ms). */
  retryDelayMs?: number;
  /** Called as bytes arrive: received so far (resumed bytes included) and the file's size. */
  onProgress?: (received: number, total: number | undefined) => void;
}

export interface DownloadResult {
  /** Bytes of the file. */
  bytes: number;
  sha256: string;
  /** The file written, for a path target. */
  path?: string;
  /** Bytes that were already there (a `.part` file) when this download started. */
  resumedFrom: number;
  /** Requests it took (1 when nothing dropped). */
  requests: number;
}

/** What is known of the file before the first request (the job's result). */
export interface ExpectedFile {
  bytes?: number;
  sha256?: string;
}

/** Where bytes go: appended to a file, or written to a stream. */
interface Sink {
  /** Bytes already held (a resumed `.part`), hashed into `hash`. */
  offset: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Start over from byte 0 (the file changed); false when the sink cannot. */
  restart(): Promise<boolean>;
  close(): Promise<void>;
}

export async function downloadTo(
  transport: Transport,
  url: string,
  to: string | Writable,
  expected: ExpectedFile,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const maxAttempts = options.maxAttempts ?? 5;
  const hash = { value: createHash('sha256') };
  const sink = typeof to === 'string' ? await fileSink(`${to}.part`, hash) : streamSink(to);
  const resumedFrom = sink.offset;
  let received = sink.offset;
  let total = expected.bytes;
  const etag = expected.sha256 ? `"${expected.sha256}"` : undefined;
  let requests = 0;
  let attemptsLeft = maxAttempts;
  let lastDrop: unknown;
  let finished = false;
  try {
    while (total === undefined || received < total) {
      if (attemptsLeft-- <= 0) {
        throw new IncompleteDownloadError(
          `download of ${url} stopped at ${received} of ${total ?? '?'} bytes after ${requests} requests` +
            (typeof to === 'string' ? `; ${to}.part is kept and the next download resumes it` : ''),
          received,
          total,
          { cause: lastDrop },
        );
      }
      const headers: Record<string, string> = {};
      if (received > 0) {
        headers.range = `bytes=${received}-`;
        if (etag) headers['if-range'] = etag;
      }
      requests++;
      let res: Response;
      try {
        res = await transport(new Request(url, { headers, signal: options.signal }));
      } catch (err) {
        if (!(err instanceof UnreachableError) || received === 0) throw err;
        lastDrop = err;
        await sleep(options.retryDelayMs ?? 500, options.signal);
        continue;
      }
      if (res.status === 416 && received > 0) {
        // What is held is at least the whole file: check it below, or start over if it is not the file.
        await res.body?.cancel().catch(() => undefined);
        const size = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1];
        total = size === undefined ? total : Number(size);
        if (total !== undefined && received === total) break;
        if (!(await sink.restart())) throw notResumable(url, received, total);
        received = 0;
        continue;
      }
      if (res.status !== 200 && res.status !== 206) throw await errorFromResponse(res);
      if (res.status === 200 && received > 0) {
        // The server sent the whole file (If-Range did not match: the file is another one): start over.
        if (!(await sink.restart())) {
          await res.body?.cancel().catch(() => undefined);
          throw notResumable(url, received, total);
        }
        received = 0;
      }
      total = sizeOf(res) ?? total;
      if (!res.body) continue;
      const before = received;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          await sink.write(chunk);
          hash.value.update(chunk);
          received += chunk.byteLength;
          options.onProgress?.(received, total);
        }
      } catch (err) {
        options.signal?.throwIfAborted();
        lastDrop = err;
      }
      // Progress resets the budget: only requests in a row that bring nothing use it up.
      if (received > before) attemptsLeft = maxAttempts;
      if (total === undefined) break; // no length known: the end of the body is the end of the file
      if (received < total) await sleep(options.retryDelayMs ?? 500, options.signal);
    }
    const sha256 = hash.value.digest('hex');
    const wrong =
      total !== undefined && received !== total
        ? `${received} bytes arrived, the file has ${total}`
        : expected.sha256 && sha256 !== expected.sha256
          ? `the sha256 of what arrived is ${sha256}, the file's is ${expected.sha256}`
          : undefined;
    if (wrong) {
      // Not a drop that another request can fix: what was kept is not the file.
      if (typeof to === 'string') await fs.rm(`${to}.part`, { force: true });
      throw new IncompleteDownloadError(`download of ${url} is not the file: ${wrong}`, received, total);
    }
    await sink.close();
    if (typeof to === 'string') await fs.rename(`${to}.part`, to);
    finished = true;
    return {
      bytes: received,
      sha256,
      resumedFrom,
      requests,
      ...(typeof to === 'string' ? { path: to } : {}),
    };
  } finally {
    await sink.close();
    // A refused download (409 not finished, 410 expired, …) leaves no empty `.part` behind.
    if (!finished && typeof to === 'string') {
      const size = await fs.stat(`${to}.part`).then(
        (s) => s.size,
        () => undefined,
      );
      if (size === 0) await fs.rm(`${to}.part`, { force: true });
    }
  }
}

function notResumable(url: string, received: number, total: number | undefined) {
  return new IncompleteDownloadError(
    `the file behind ${url} changed after ${received} bytes were written to the stream, which cannot start over`,
    received,
    total,
  );
}

/** The whole file's size: the total of Content-Range on a 206, Content-Length on a 200. */
function sizeOf(res: Response): number | undefined {
  if (res.status === 206) {
    const total = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1];
    return total === undefined ? undefined : Number(total);
  }
  const length = res.headers.get('content-length');
  return length === null ? undefined : Number(length);
}

async function fileSink(partPath: string, hash: { value: Hash }): Promise<Sink> {
  // A `.part` from an earlier, interrupted download: resume after its bytes (hashed first).
  let offset = 0;
  try {
    const held = await fs.open(partPath, 'r');
    try {
      for await (const chunk of held.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
        hash.value.update(chunk);
        offset += chunk.byteLength;
      }
    } finally {
      await held.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let handle = await fs.open(partPath, 'a');
  let closed = false;
  return {
    offset,
    async write(chunk) {
      await handle.write(chunk);
    },
    async restart() {
      await handle.close();
      handle = await fs.open(partPath, 'w');
      hash.value = createHash('sha256');
      return true;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

function streamSink(stream: Writable): Sink {
  let written = 0;
  return {
    offset: 0,
    async write(chunk) {
      written += chunk.byteLength;
      if (!stream.write(chunk)) await once(stream, 'drain');
    },
    restart: () => Promise.resolve(written === 0),
    close: () => Promise.resolve(),
  };
}
