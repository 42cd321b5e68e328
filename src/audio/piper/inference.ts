/**
 * A pool of Piper inference threads (./inference-thread.ts). Each thread runs one sentence at a time
 * on `intraOpThreads` ONNX Runtime threads, so `size × intraOpThreads` cores are kept busy and the
 * worker's event loop only passes messages. Sessions live in the threads and are reused; a thread that
 * dies fails its sentence and is replaced on the next one. `inferenceLayout` splits the cores given to
 * Piper between the sentences that can run at once.
 */
import { Worker } from 'node:worker_threads';
import { runsFromSource, siblingModule } from '../../lib/module-file.js';
import type { InferenceReply, InferenceTask, InferenceThreadData } from './inference-thread.js';

const FROM_SOURCE = runsFromSource(import.meta.url);
const THREAD_URL = siblingModule(import.meta.url, './inference-thread');

function startThread(workerData: InferenceThreadData): Worker {
  if (!FROM_SOURCE) return new Worker(THREAD_URL, { workerData });
  const boot =
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD_URL.href)}); })` +
    `.catch((err) => { console.error(err); process.exit(1); });`;
  return new Worker(boot, { eval: true, workerData });
}

export interface InferenceLayout {
  /** Sentences inferred at once: threads of the pool. */
  threads: number;
  /** ONNX Runtime intra-op threads of each thread's sessions. */
  intraOpThreads: number;
}

/**
 * How `cores` cores serve at most `sentencesAtOnce` sentences at a time (a process's audio jobs × the
 * segments each works on): one thread per sentence that can run, up to one per core, and the cores
 * left over shared among them as intra-op threads. One sentence at a time then uses every core, as the
 * bare `piper` command does; two on two cores use one each, which makes more audio per CPU second.
 */
export function inferenceLayout(cores: number, sentencesAtOnce: number): InferenceLayout {
  const threads = Math.max(1, Math.min(cores, sentencesAtOnce));
  return { threads, intraOpThreads: Math.max(1, Math.floor(cores / threads)) };
}

export type SentenceRequest = Omit<InferenceTask, 'id'>;

interface Job {
  task: InferenceTask;
  resolve: (pcm: Buffer) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

export class InferencePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  readonly size: number;
  readonly intraOpThreads: number;

  constructor(layout: InferenceLayout) {
    if (layout.threads < 1 || layout.intraOpThreads < 1)
      throw new RangeError('an inference pool needs at least one thread');
    this.size = layout.threads;
    this.intraOpThreads = layout.intraOpThreads;
  }

  /** One sentence's samples (s16le mono at the voice's rate). */
  run(request: SentenceRequest, signal?: AbortSignal): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('the inference pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<Buffer>((resolve, reject) => {
      const job: Job = { task: { ...request, id: this.nextId++ }, resolve, reject };
      const onAbort = () => {
        const i = this.waiting.indexOf(job);
        if (i >= 0) this.waiting.splice(i, 1);
        // A sentence already running finishes in its thread; its answer is dropped.
        job.resolve = () => {};
        job.reject = () => {};
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          signal?.removeEventListener('abort', onAbort);
          fn(v);
        };
      job.resolve = settle(resolve);
      job.reject = settle(reject);
      this.waiting.push(job);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.waiting.shift()!;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage(job.task);
    }
  }

  private spawn(): Slot {
    const worker = startThread({ intraOpThreads: this.intraOpThreads });
    const slot: Slot = { worker, job: undefined };
    worker.on('message', (reply: InferenceReply) => {
      const job = slot.job;
      slot.job = undefined;
      worker.unref();
      if (job && job.task.id === reply.id) {
        if (reply.ok) job.resolve(Buffer.from(reply.pcm.buffer, reply.pcm.byteOffset, reply.pcm.byteLength));
        else job.reject(new Error(`Piper inference failed: ${reply.message}`));
      }
      this.dispatch();
    });
    const gone = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      slot.job?.reject(err);
      slot.job = undefined;
      if (!this.closed) this.dispatch();
    };
    worker.on('error', (err) => gone(new Error(`a Piper inference thread failed: ${err.message}`)));
    worker.on('exit', (code) => gone(new Error(`a Piper inference thread exited with ${code}`)));
    // Idle threads must not keep the process alive.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error('the inference pool is closed'));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }
}
