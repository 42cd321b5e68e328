/**
 * The heavy audio activity. The text is cut into sentence chunks; each chunk is synthesised by the
 * engine (a child process) and stored as a PCM part, several at once. The stored parts are the
 * checkpoint: a retry lists them and synthesises only the missing chunks. Meanwhile the parts are fed,
 * in order, into one encoder process, so the file is encoded once from the concatenated samples and is
 * the same as an uninterrupted run's, whatever attempt made which chunk.
 */
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { chunkText, localeOfVoice, type TextChunk } from '../../audio/chunks.js';
import { EngineRejectedError, type SpeechEngine } from '../../audio/engine.js';
import { FORMATS, startEncoder, type EncoderProcess } from '../../audio/formats.js';
import { MAX_WAV_DATA_BYTES, wavHeader } from '../../audio/wav.js';
import * as repo from '../../db/jobs-repo.js';
import { ErrorType } from '../../shared/errors.js';
import type { AudioActivityInput, AudioResult } from '../../shared/jobs.js';
import type { ActivityDeps } from '../deps.js';
import { ProgressReporter } from '../progress-reporter.js';

export interface AudioDeps {
  engine: SpeechEngine;
  /** Engine processes one job runs at once. */
  parallelism: number;
}

/** Heartbeat details: informative only, since the stored parts themselves are the checkpoint. */
export interface AudioCheckpoint {
  chunksStored: number;
  chunksEncoded: number;
  chunks: number;
}

export function audioFileName(input: AudioActivityInput): string {
  return input.request.fileName ?? `speech-${input.jobId}.${FORMATS[input.request.format].extension}`;
}

/** A promise with its resolve/reject exposed. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

async function writeAll(dest: NodeJS.WritableStream, source: Readable, signal: AbortSignal): Promise<void> {
  for await (const chunk of source) {
    if (signal.aborted) throw signal.reason;
    if (!dest.write(chunk as Buffer)) await once(dest, 'drain', { signal });
  }
}

export function createAudioActivities(deps: ActivityDeps, audio: AudioDeps) {
  const { database, storage } = deps;

  async function synthesizeAudio(input: AudioActivityInput): Promise<AudioResult> {
    const ctx = Context.current();
    const { attempt } = ctx.info;
    const log = deps.log.child({
      jobId: input.jobId,
      workflowId: ctx.info.workflowExecution?.workflowId,
      attempt,
    });
    const { request } = input;
    const spec = FORMATS[request.format];
    if (!spec)
      throw ApplicationFailure.nonRetryable(`unknown format ${request.format}`, ErrorType.InvalidInput);

    const job = await repo.markJobRunning(database.db, input.jobId, attempt);
    if (!job)
      throw ApplicationFailure.nonRetryable(`job ${input.jobId} does not exist`, ErrorType.JobNotFound);

    const chunks = chunkText(request.text, input.chunkChars, localeOfVoice(request.voice));
    if (chunks.length === 0)
      throw ApplicationFailure.nonRetryable('the text is empty', ErrorType.InvalidInput);
    const total = request.text.length;
    const stored = new Map<number, number>(); // chunk index -> PCM bytes
    for (const p of await storage.listParts(input.jobId))
      if (p.index < chunks.length) stored.set(p.index, p.bytes);
    const resumedChars = chunks.filter((c) => stored.has(c.index)).reduce((n, c) => n + c.text.length, 0);
    await repo.recordAttemptStart(database.db, {
      jobId: input.jobId,
      attempt,
      worker: deps.workerName,
      resumedFromRows: resumedChars,
    });
    log.info(
      { chunks: chunks.length, stored: stored.size, format: request.format, voice: request.voice },
      stored.size > 0 ? 'audio resuming from stored chunks' : 'audio starting',
    );
    const checkpoint = (): AudioCheckpoint => ({
      chunksStored: stored.size,
      chunksEncoded: fed,
      chunks: chunks.length,
    });
    let fed = 0;
    ctx.heartbeat(checkpoint());

    // One abort for everything this attempt started: engine and encoder processes stop on cancellation.
    const abort = new AbortController();
    const onCancel = () => abort.abort(ctx.cancellationSignal.reason);
    ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();

    const sampleRate = deferred<number>();
    const ready = chunks.map(() => deferred<number>());
    for (const [index, bytes] of stored) ready[index]!.resolve(bytes);
    let synthesized = 0;
    let charsSynthesized = 0;

    async function synthesizeChunk(chunk: TextChunk): Promise<void> {
      const pcm = await audio.engine.synthesize(chunk.text, {
        voice: request.voice,
        rate: request.rate,
        pitch: request.pitch,
        signal: abort.signal,
      });
      sampleRate.resolve(pcm.sampleRate);
      await storage.writePart(input.jobId, chunk.index, Readable.from([pcm.samples]));
      stored.set(chunk.index, pcm.samples.length);
      synthesized++;
      charsSynthesized += chunk.text.length;
      await repo.recordAudioChunk(database.db, {
        jobId: input.jobId,
        chunkIndex: chunk.index,
        attempt,
        worker: deps.workerName,
        characters: chunk.text.length,
        samples: pcm.samples.length / 2,
      });
      ready[chunk.index]!.resolve(pcm.samples.length);
    }

    // Synthesis: the missing chunks in text order, `parallelism` engine processes at a time.
    const missing = chunks.filter((c) => !stored.has(c.index));
    let next = 0;
    const synthesis = Promise.all(
      Array.from({ length: Math.min(audio.parallelism, missing.length) }, async () => {
        while (next < missing.length && !abort.signal.aborted) {
          const chunk = missing[next++]!;
          try {
            await synthesizeChunk(chunk);
          } catch (err) {
            ready[chunk.index]!.reject(err);
            throw err;
          }
        }
      }),
    );
    synthesis.catch((err: unknown) => {
      // Chunks nobody will synthesise now fail too, so the encoding loop below stops waiting.
      sampleRate.reject(err);
      for (const r of ready) r.reject(err);
      abort.abort(err);
    });
    // Every chunk was stored by earlier attempts: the parts are bare samples, so ask the engine its rate.
    if (missing.length === 0) {
      const probe = await audio.engine.synthesize(chunks[0]!.text.slice(0, 1) || '.', {
        voice: request.voice,
        rate: request.rate,
        pitch: request.pitch,
        signal: abort.signal,
      });
      sampleRate.resolve(probe.sampleRate);
    }

    // Progress counts the characters whose audio is in the output file. The encoder starts again from
    // the first chunk on every attempt (only synthesis is resumed), so this attempt counts from zero.
    const progress = new ProgressReporter(ctx, 0);
    await progress.report(0, total, true);
    let encoder: EncoderProcess | undefined;
    let doneChars = 0;
    try {
      const rate = await sampleRate.promise;
      const key = `${input.jobId}/${audioFileName(input).replace(/[^A-Za-z0-9._-]/g, '_')}`;
      let written: Promise<{ bytes: number; sha256: string }> | undefined;
      if (spec.encoder) {
        encoder = startEncoder(spec, rate);
        written = storage.writeObject(key, encoder.stdout);
        written.catch(() => {});
      }
      // Encoding: the parts in order, each as soon as it is stored.
      let pcmBytes = 0;
      for (const chunk of chunks) {
        pcmBytes += await ready[chunk.index]!.promise;
        if (encoder) await writeAll(encoder.stdin, storage.readPart(input.jobId, chunk.index), abort.signal);
        fed++;
        doneChars += chunk.text.length;
        ctx.heartbeat(checkpoint());
        await progress.report(doneChars, total);
      }
      await synthesis;
      let published: { bytes: number; sha256: string };
      if (encoder && written) {
        encoder.stdin.end();
        [published] = await Promise.all([written, encoder.exited]);
      } else {
        if (pcmBytes > MAX_WAV_DATA_BYTES) {
          throw ApplicationFailure.nonRetryable(
            'the audio is too long for a WAV file (4 GiB)',
            ErrorType.InvalidInput,
          );
        }
        published = await storage.publish(input.jobId, key, chunks.length, wavHeader(rate, pcmBytes));
      }
      const samples = pcmBytes / 2;
      await repo.recordAttemptEnd(database.db, { jobId: input.jobId, attempt, rowsRead: charsSynthesized });
      loopDelay.disable();
      const result: AudioResult = {
        storageKey: key,
        fileName: audioFileName(input),
        contentType: spec.contentType,
        bytes: published.bytes,
        sha256: published.sha256,
        format: request.format,
        durationSeconds: Math.round((samples / rate) * 1000) / 1000,
        sampleRate: rate,
        characters: total,
        chunks: chunks.length,
        engine: audio.engine.id,
      };
      log.info(
        {
          ...result,
          synthesized,
          reused: chunks.length - synthesized,
          eventLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
          eventLoopDelayMaxMs: Math.round(loopDelay.max / 1e4) / 100,
        },
        'audio published',
      );
      return result;
    } catch (err) {
      abort.abort(err);
      encoder?.kill();
      await synthesis.catch(() => {});
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      if (err instanceof EngineRejectedError)
        throw ApplicationFailure.nonRetryable(err.message, ErrorType.EngineRejected);
      throw err;
    } finally {
      loopDelay.disable();
      ctx.cancellationSignal.removeEventListener('abort', onCancel);
    }
  }

  return { synthesizeAudio };
}

export type AudioActivities = ReturnType<typeof createAudioActivities>;
