/**
 * Reads a byte stream as batches of about `target` bytes. Streams hand over chunks of any size (a
 * `COPY … TO STDOUT` a socket read's rows at a time, see patches/apply.mjs; an encoder a few KB):
 * writing each on its own costs a system call per chunk, while copying them from 'data' events into a
 * slab and writing whole slabs costs almost nothing per chunk. Copying (rather than keeping the
 * chunks) lets every chunk die young: chunks held across a write would be promoted to the old
 * generation and grow the process.
 * The stream is paused while a batch is being consumed.
 */
import type { Readable } from 'node:stream';

/** Batches of at most `target` bytes, except that a single larger chunk is passed on whole. */
export async function* coalesce(body: Readable, target = 256 * 1024): AsyncGenerator<Buffer[]> {
  let slab = Buffer.allocUnsafeSlow(target);
  let size = 0;
  // Batches ready for the consumer: normally at most one, since the stream is paused once one is.
  const ready: Buffer[][] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const signal = () => {
    wake?.();
    wake = undefined;
  };
  const onData = (chunk: Buffer) => {
    if (size + chunk.length < target) {
      slab.set(chunk, size);
      size += chunk.length;
      return;
    }
    if (size + chunk.length === target) {
      slab.set(chunk, size);
      ready.push([slab]);
      slab = Buffer.allocUnsafeSlow(target);
      size = 0;
    } else if (chunk.length < target) {
      // The chunk starts the next slab: batches stay within the target.
      if (size > 0) ready.push([slab.subarray(0, size)]);
      slab = Buffer.allocUnsafeSlow(target);
      slab.set(chunk, 0);
      size = chunk.length;
    } else {
      ready.push(size > 0 ? [slab.subarray(0, size), chunk] : [chunk]);
      slab = Buffer.allocUnsafeSlow(target);
      size = 0;
    }
    body.pause();
    signal();
  };
  const onEnd = () => {
    ended = true;
    signal();
  };
  const onError = (error: unknown) => {
    failure = { error };
    signal();
  };
  body.on('data', onData);
  body.once('end', onEnd);
  body.on('error', onError);
  try {
    for (;;) {
      if (failure) throw failure.error;
      const batch = ready.shift();
      if (batch) {
        yield batch;
        if (ready.length === 0) body.resume();
      } else if (ended) {
        if (size > 0) yield [slab.subarray(0, size)];
        return;
      } else {
        await new Promise<void>((resolve) => (wake = resolve));
      }
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    if (!ended) body.destroy();
  }
}

export function byteLength(buffers: Buffer[]): number {
  let n = 0;
  for (const b of buffers) n += b.length;
  return n;
}
