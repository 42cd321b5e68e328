/**
 * The event streams (SSE and WebSocket together) open on this API process, by API key. A key holds at
 * most `maxPerKey` of them at once; beyond that `open` refuses (the routes answer 429 or close the
 * socket with 4429). While any stream is open, one query every `checkEveryMs` asks which of their keys
 * still authenticate, and the streams of a key that was revoked, or whose user was deleted, are told to
 * close. A failed check closes nothing (a database hiccup must not drop every stream) and is retried on
 * the next tick.
 */
import type { Logger } from '../../lib/logger.js';
import { HttpProblem } from './problem.js';

export interface StreamLease {
  /** Give the slot back; idempotent. */
  release(): void;
}

export interface StreamGuardOptions {
  maxPerKey: number;
  checkEveryMs: number;
  /** Of these key ids, the ones that still authenticate. */
  liveKeys(keyIds: string[]): Promise<Set<string>>;
  log?: Pick<Logger, 'warn'>;
}

interface Entry {
  onRevoked: () => void;
}

export class StreamGuard {
  private readonly byKey = new Map<string, Set<Entry>>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly opts: StreamGuardOptions) {}

  /**
   * Take a stream slot for `keyId`, or undefined when the key already holds `maxPerKey`. `onRevoked`
   * is called once if the key stops authenticating while the stream is open; the slot is then free.
   */
  open(keyId: string, onRevoked: () => void): StreamLease | undefined {
    let entries = this.byKey.get(keyId);
    if ((entries?.size ?? 0) >= this.opts.maxPerKey) return undefined;
    if (!entries) this.byKey.set(keyId, (entries = new Set()));
    const entry: Entry = { onRevoked };
    entries.add(entry);
    this.schedule();
    return { release: () => this.remove(keyId, entry) };
  }

  /** Streams open for a key right now. */
  openFor(keyId: string): number {
    return this.byKey.get(keyId)?.size ?? 0;
  }

  /** Streams open right now, all keys. */
  get size(): number {
    let n = 0;
    for (const entries of this.byKey.values()) n += entries.size;
    return n;
  }

  /** One round of the key check: close the streams of every key that no longer authenticates. */
  async check(): Promise<void> {
    const keyIds = [...this.byKey.keys()];
    if (keyIds.length === 0) return;
    const live = await this.opts.liveKeys(keyIds);
    for (const keyId of keyIds) {
      if (live.has(keyId)) continue;
      const entries = this.byKey.get(keyId);
      this.byKey.delete(keyId);
      for (const entry of entries ?? []) {
        try {
          entry.onRevoked();
        } catch (err) {
          this.opts.log?.warn({ err }, 'closing a revoked stream failed');
        }
      }
    }
  }

  /** Stop checking (process shutdown); open leases stay valid. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private remove(keyId: string, entry: Entry): void {
    const entries = this.byKey.get(keyId);
    if (!entries?.delete(entry)) return;
    if (entries.size === 0) this.byKey.delete(keyId);
  }

  /** Checks run only while some stream is open, one at a time, on a timer that keeps no process alive. */
  private schedule(): void {
    if (this.timer || this.stopped || this.byKey.size === 0) return;
    this.timer = setTimeout(() => {
      void this.check()
        .catch((err: unknown) => this.opts.log?.warn({ err }, 'stream key check failed; retrying'))
        .finally(() => {
          this.timer = undefined;
          this.schedule();
        });
    }, this.opts.checkEveryMs);
    this.timer.unref();
  }
}

/** The answer to an SSE request beyond the key's cap (the WebSocket closes with 4429 instead). */
export function tooManyStreams(maxPerKey: number): HttpProblem {
  return new HttpProblem(
    429,
    'too-many-streams',
    'Too Many Requests',
    `this API key already has ${maxPerKey} event streams (SSE and WebSocket) open; close one first`,
    { limit: maxPerKey },
    { 'retry-after': '5' },
  );
}
