/**
 * Writes that follow the work instead of holding it up: a speech job's stored chunk, its sentence-cache
 * copy and its database record run while the engine already speaks the next sentence. At most `limit`
 * writes are in flight; `add` waits for room, so a slow store holds the work back instead of letting
 * samples pile up in memory. The first failure is kept: every later `add` rejects with it (the work stops
 * at its next piece) and `drain` throws it. `settle` lets the writes in flight finish whatever happened,
 * so what was stored before a failure stays stored for the retry.
 */
export interface WriteBehind {
  /** Start `write` once fewer than `limit` writes are in flight; resolves when it has started. */
  add(write: () => Promise<unknown>): Promise<void>;
  /** Wait for every write; throws the first failure. */
  drain(): Promise<void>;
  /** Wait for every write, ignoring failures. */
  settle(): Promise<void>;
}

export function writeBehind(limit: number): WriteBehind {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('writeBehind needs a limit of at least 1');
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;

  const settle = async () => {
    while (inFlight.size > 0) await Promise.all(inFlight);
  };
  return {
    async add(write) {
      while (!failure && inFlight.size >= limit) await Promise.race(inFlight);
      if (failure) throw failure.error;
      const running: Promise<void> = write().then(
        () => {
          inFlight.delete(running);
        },
        (error: unknown) => {
          inFlight.delete(running);
          failure ??= { error };
        },
      );
      inFlight.add(running);
    },
    async drain() {
      await settle();
      if (failure) throw failure.error;
    },
    settle,
  };
}
