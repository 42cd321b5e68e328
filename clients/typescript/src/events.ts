/**
 * Following a job over server-sent events (GET /v1/jobs/{id}/events): every `state`, `progress` and `end`
 * event is handed to the caller, and a connection that drops before `end` is reopened with `Last-Event-ID`,
 * so the server skips what was already seen. Resolves with the job's last view (the `end` event's data).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { errorFromResponse, OffloadError, StreamLostError, UnreachableError } from './errors.js';
import type { Job, JobProgressEvent, JobStateEvent } from './types.js';
import { sleep, type Transport } from './transport.js';

export type JobEvent =
  | { type: 'state'; id: string; data: JobStateEvent }
  | { type: 'progress'; id: string; data: JobProgressEvent }
  | { type: 'end'; id: string; data: Job };

export interface FollowOptions {
  signal?: AbortSignal;
  /** Reconnections in a row without receiving an event before giving up (default 10). */
  maxReconnects?: number;
  /** Wait before reconnecting, unless the server's `retry:` field says otherwise (default 1000 ms). */
  reconnectDelayMs?: number;
  /** Called before each reconnection, with the Last-Event-ID it sends. */
  onReconnect?: (lastEventId: string | undefined, attempt: number) => void;
}

/** Why one connection ended: the job's end, or a drop to resume from. */
type ConnectionEnd = { ended: Job } | { dropped: unknown };

export async function followJob(
  transport: Transport,
  url: string,
  onEvent: (event: JobEvent) => void,
  options: FollowOptions = {},
): Promise<Job> {
  const maxReconnects = options.maxReconnects ?? 10;
  let delayMs = options.reconnectDelayMs ?? 1000;
  let lastEventId: string | undefined;
  let failures = 0;
  // Once a stream has opened, a failure to reconnect (API restarting) is retried; before, it is the answer.
  let connected = false;
  for (;;) {
    const outcome = await readOnce();
    if ('ended' in outcome) return outcome.ended;
    options.signal?.throwIfAborted();
    failures++;
    if (failures > maxReconnects) {
      throw new StreamLostError(
        `the event stream of ${url} dropped ${failures} times in a row without an event`,
        { cause: outcome.dropped },
      );
    }
    options.onReconnect?.(lastEventId, failures);
    await sleep(delayMs, options.signal);
  }

  async function readOnce(): Promise<ConnectionEnd> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    let res: Response;
    try {
      res = await transport(new Request(url, { headers, signal: options.signal }));
    } catch (err) {
      if (err instanceof UnreachableError && connected) return { dropped: err };
      throw err;
    }
    if (!res.ok) {
      const error = await errorFromResponse(res);
      // A 5xx on a reconnection (API restarting) is retried like a drop; anything else is final.
      if (res.status >= 500 && connected) return { dropped: error };
      throw error;
    }
    if (!res.body) return { dropped: new Error('no body') };
    connected = true;
    let ended: Job | undefined;
    let parseError: OffloadError | undefined;
    const parser = createParser({
      onEvent(message: EventSourceMessage) {
        if (ended) return;
        try {
          const event = toJobEvent(message);
          if (!event) return;
          if (message.id) lastEventId = message.id;
          failures = 0;
          onEvent(event);
          if (event.type === 'end') ended = event.data;
        } catch (err) {
          parseError ??= new OffloadError(`an event of ${url} is not what the API sends: ${String(err)}`, {
            cause: err,
          });
        }
      },
      onRetry(ms) {
        delayMs = ms;
      },
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      while (!ended && parseError === undefined) {
        const chunk = await reader.read();
        if (chunk.done) break;
        parser.feed(chunk.value);
      }
    } catch (err) {
      options.signal?.throwIfAborted();
      return { dropped: err };
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    if (parseError !== undefined) throw parseError;
    return ended ? { ended } : { dropped: new Error('the stream closed before the end event') };
  }
}

function toJobEvent(message: EventSourceMessage): JobEvent | undefined {
  const id = message.id ?? '';
  switch (message.event) {
    case 'state':
      return { type: 'state', id, data: JSON.parse(message.data) as JobStateEvent };
    case 'progress':
      return { type: 'progress', id, data: JSON.parse(message.data) as JobProgressEvent };
    case 'end':
      return { type: 'end', id, data: JSON.parse(message.data) as Job };
    default:
      return undefined; // an event type this client does not know yet
  }
}
