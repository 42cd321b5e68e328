/**
 * Lanes: a fixed number of workers pulling pieces of work (an export's parts, a speech job's segments)
 * from one source until none is left. The first failure aborts the attempt's controller, so the other
 * lanes take no further piece and whatever listens to its signal (engine and encoder processes) stops
 * at once; every lane settles before runLanes rejects, with that first failure. A controller aborted
 * from outside (a cancellation) stops the lanes the same way and runLanes rejects with its reason.
 */

export interface Lanes<T, L = undefined> {
  /** How many lanes pull work at once. */
  count: number;
  /** The next piece of work, or undefined once none is left. Lanes may call it while another call runs. */
  next(): Promise<T | undefined> | T | undefined;
  /** Do one piece on a lane, with what the lane holds. */
  run(item: T, lane: L): Promise<void>;
  /** What a lane holds while it runs (e.g. a reserved connection); released by `close` however it ends. */
  open?(): Promise<L>;
  close?(lane: L): Promise<void> | void;
}

export async function runLanes<T, L>(lanes: Lanes<T, L>, abort: AbortController): Promise<void> {
  const { signal } = abort;
  let failed: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    try {
      const held = lanes.open ? await lanes.open() : (undefined as L);
      try {
        for (;;) {
          if (signal.aborted) return;
          const item = await lanes.next();
          if (item === undefined || signal.aborted) return;
          await lanes.run(item, held);
        }
      } finally {
        await lanes.close?.(held);
      }
    } catch (err) {
      // The first failure in time is the cause; the others may only be its consequences (killed processes).
      failed ??= { error: err };
      abort.abort(err);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, lanes.count) }, lane));
  if (failed) throw failed.error;
  if (signal.aborted) throw signal.reason;
}
