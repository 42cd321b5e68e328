/**
 * Reads a byte stream as batches of about `target` bytes. Streams hand over chunks of any size (a
 * `COPY … TO STDOUT` a socket read's rows at a time, see patches/apply.mjs; an encoder a few KB):
 * writing each on its own costs a system call per chunk, while copying them from 'data' events into a
 * slab and writing whole slabs costs almost nothing per chunk. Copying (rather than keeping the
 * chunks) lets every chunk die young: chunks held across a write would be promoted to the old
 * generation and grow the process.
 * The stream is paused while a batch is being consumed. A batch is the consumer's until it asks for
 * the next one; then its slab is filled again. Reusing slabs keeps the export's new ArrayBuffer
 * memory to the socket's own reads: V8 answers new external memory with garbage collections, and a
 * fresh slab per batch added as many bytes again as the reads.
 */
import type { Readable } from 'node:stream';

/** Batches of at most `target` bytes, except that a single larger chunk is passed on whole. */
export async function* coalesce(body: Readable, target = 256 * 1024): AsyncGenerator<Buffer[]> {
  // Slabs the consumer has handed back (asked for the next batch since), to be filled again.
  const spare: Buffer[] = [];
  const freshSlab = () => spare.pop() ?? Buffer.allocUnsafeSlow(target);
  let slab = freshSlab();
  let size = 0;
  // Batches ready for the consumer, each with the slab it lies in (none for a chunk passed on whole):
  // normally at most one, since the stream is paused once one is.
  const ready: { buffers: Buffer[]; slab?: Buffer }[] = [];
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
      ready.push({ buffers: [slab], slab });
      slab = freshSlab();
      size = 0;
    } else if (chunk.length < target) {
      // The chunk starts the next slab: batches stay within the target.
      if (size > 0) ready.push({ buffers: [slab.subarray(0, size)], slab });
      else spare.push(slab);
      slab = freshSlab();
      slab.set(chunk, 0);
      size = chunk.length;
    } else {
      ready.push(size > 0 ? { buffers: [slab.subarray(0, size), chunk], slab } : { buffers: [chunk] });
      if (size === 0) spare.push(slab);
      slab = freshSlab();
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
        yield batch.buffers;
        // The consumer is done with the batch: its slab can take more data.
        if (batch.slab) spare.push(batch.slab);
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
