/**
 * The fetch every request of the client goes through: the bearer key, a network failure turned into
 * UnreachableError, and `Retry-After` honoured on 429 and 503 (wait, then send the same request again, up to
 * `maxRetries` times). A 429 without Retry-After (a cap on your jobs or streams) is not retried: waiting a
 * fixed time would not help, a job has to end first.
 */
import { UnreachableError, retryAfter } from './errors.js';

export interface TransportOptions {
  apiKey?: string;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** How many times a 429/503 with Retry-After is waited out and retried (default 3). */
  maxRetries?: number;
  /** A Retry-After longer than this many seconds is not waited out but reported (default 60). */
  maxRetryAfterSeconds?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export type Transport = (request: Request) => Promise<Response>;

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function createTransport(options: TransportOptions): Transport {
  const doFetch = options.fetch ?? globalThis.fetch;
  const maxRetries = options.maxRetries ?? 3;
  const maxWait = options.maxRetryAfterSeconds ?? 60;
  return async (request) => {
    const headers = new Headers(request.headers);
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
    if (options.apiKey && !headers.has('authorization'))
      headers.set('authorization', `Bearer ${options.apiKey}`);
    const prepared = new Request(request, { headers });
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await doFetch(prepared.clone());
      } catch (err) {
        // An abort by the caller stays an abort; anything else means there was no answer.
        if (request.signal.aborted) throw request.signal.reason;
        throw new UnreachableError(new URL(request.url).origin, err);
      }
      if (res.status !== 429 && res.status !== 503) return res;
      const wait = retryAfter(res.headers);
      if (wait === undefined || wait > maxWait || attempt >= maxRetries) return res;
      await res.body?.cancel().catch(() => undefined);
      await sleep(wait * 1000, request.signal);
    }
  };
}
