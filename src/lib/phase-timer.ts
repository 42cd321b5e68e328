/**
 * Wall time spent in named phases of a long operation, summed per phase: `lap(name)` charges the time
 * since the previous lap to `name`. Cheap enough to keep on in production and log once at the end.
 */
export class PhaseTimer {
  #last = performance.now();
  readonly #totals = new Map<string, number>();

  lap(phase: string): void {
    const now = performance.now();
    this.#totals.set(phase, (this.#totals.get(phase) ?? 0) + (now - this.#last));
    this.#last = now;
  }

  /** Milliseconds per phase, rounded. */
  totals(): Record<string, number> {
    return Object.fromEntries([...this.#totals].map(([k, v]) => [k, Math.round(v)]));
  }
}
