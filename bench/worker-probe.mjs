/**
 * Preloaded into a benchmarked worker process (`--import`): measures the event-loop delay
 * (monitorEventLoopDelay, 10 ms resolution) and writes p50/p99/max to $OFFLOAD_PROBE_FILE every
 * 250 ms. The bench resets the histogram by creating `$OFFLOAD_PROBE_FILE.reset`. Plain JavaScript and
 * main thread only: worker threads (Temporal's workflow threads, the PDF renderer) inherit --import.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import process from 'node:process';
import { setInterval } from 'node:timers';
import { isMainThread } from 'node:worker_threads';

const file = process.env.OFFLOAD_PROBE_FILE;
if (file && isMainThread) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  setInterval(() => {
    if (existsSync(`${file}.reset`)) {
      h.reset();
      rmSync(`${file}.reset`, { force: true });
    }
    const ms = (n) => Math.round(n / 1e5) / 10;
    writeFileSync(
      file,
      JSON.stringify({
        p50: ms(h.percentile(50)),
        p99: ms(h.percentile(99)),
        max: ms(h.max),
        count: h.count,
      }),
    );
  }, 250).unref();
}
