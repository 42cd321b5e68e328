/**
 * The heavy audio activity. The text is cut into sentence chunks, the chunks into encoding segments.
 * Each chunk is synthesised by the engine (espeak-ng: a child process; Piper: inference threads) and
 * stored as a PCM part (written behind the synthesis: the engine speaks the next chunk while it is
 * stored; ../heavy/write-behind.ts); each segment's
 * chunks are streamed, in order, into one encoder process (lame for MP3) whose output is stored as a
 * part too. Several segments are worked on at once (AUDIO_PARALLELISM), each with its own engine and
 * encoder processes, so a job uses every core. The stored parts are the checkpoint: a retry lists them,
 * keeps every encoded segment and stored chunk, and synthesises only what is missing. The file is the
 * concatenation of the parts (WAV: a header and the samples); with espeak-ng it is the same, byte for
 * byte, as an uninterrupted run's, whichever attempt made which part; with Piper (which samples noise) it
 * is the kept chunks plus the new ones. Piper jobs are cut one sentence per chunk, and each sentence is
 * first looked up in the tenant's sentence cache (sentenceCacheKey). The publish also writes WebVTT
 * captions timed from the chunks' lengths. The attempt around it (job records, heartbeats, progress,
 * lanes, publish) is ../heavy/attempt.ts.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable, type Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/activity';
import { captionCues, webVtt } from '../../audio/captions.js';
import { chunkText, localeOfVoice, type TextChunk } from '../../audio/chunks.js';
import { EngineRejectedError, type SpeechEngine, type VoiceIdentity } from '../../audio/engine.js';
import { FORMATS, startEncoder, type EncoderProcess } from '../../audio/formats.js';
import { segmentChunks, type Segment } from '../../audio/segments.js';
import { MAX_WAV_DATA_BYTES, wavHeader } from '../../audio/wav.js';
import * as repo from '../../db/jobs-repo.js';
import { ErrorType } from '../../shared/errors.js';
import { CAPTIONS_CONTENT_TYPE, type AudioActivityInput, type AudioResult } from '../../shared/jobs.js';
import type { ActivityDeps } from '../deps.js';
import { attemptDeps, runHeavyAttempt, type HeavyKind } from '../heavy/attempt.js';
import { writeBehind } from '../heavy/write-behind.js';

export interface AudioDeps {
  engine: SpeechEngine;
  /** Segments one job works on at once, each with its own engine and encoder process. */
  parallelism: number;
  /** How long a cached sentence is reused (AUDIO_SENTENCE_CACHE_TTL_MS); 0: no sentence cache. */
  sentenceCacheTtlMs?: number;
}

/**
 * The storage key of a sentence's samples in the tenant's cache: content-addressed by everything that
 * shapes them (tenant, engine and version, voice, model sha256, rate, pitch, the text with its white
 * space collapsed), so a key is never shared across tenants, voices, models or settings.
 */
export function sentenceCacheKey(
  tenantId: string,
  identity: VoiceIdentity,
  request: { rate: number; pitch: number },
  text: string,
): string {
  const tenant = createHash('sha256').update(tenantId).digest('hex').slice(0, 32);
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        tenantId,
        identity.engine,
        identity.voice,
        identity.modelSha256,
        request.rate,
        request.pitch,
        text.replace(/\s+/g, ' ').trim(),
      ]),
    )
    .digest('hex');
  return `sentence-cache/${tenant}/${key}.pcm`;
}

const WORD_CHAR = /[\p{L}\p{N}]/u;

/** Encoded segment `s` is stored as part ENCODED_PART_BASE + s; chunk `i`'s samples as part `i`. */
export const ENCODED_PART_BASE = 1_000_000;

/** Heartbeat details: informative only, since the stored parts themselves are the checkpoint. */
export interface AudioCheckpoint {
  chunksStored: number;
  segmentsEncoded: number;
  chunks: number;
  segments: number;
}

export function audioFileName(input: AudioActivityInput): string {
  return input.request.fileName ?? `speech-${input.jobId}.${FORMATS[input.request.format].extension}`;
}

/**
 * Samples queued for an encoder before feeding waits. Well above one chunk, so the next chunk is always
 * queued before the encoder runs dry: the encoder never waits for this process to be scheduled.
 */
const FEED_QUEUE_BYTES = 16 * 1024 * 1024;
/** Chunks a lane synthesises ahead of the one its encoder is taking. */
const LOOK_AHEAD_CHUNKS = 3;
/** Chunk writes (part, cache copy, record) in flight behind the synthesis, per job. */
const WRITES_IN_FLIGHT = 8;

/** Queue samples for an encoder, waiting while too much is queued; fails if the encoder dies meanwhile. */
async function feed(encoder: EncoderProcess, data: Buffer, signal: AbortSignal): Promise<void> {
  const stdin: Writable = encoder.stdin;
  stdin.write(data);
  if (stdin.writableLength <= FEED_QUEUE_BYTES) return;
  // Both sides get a handler: the side that loses the race must not become an unhandled rejection.
  const drained = once(stdin, 'drain', { signal });
  const died = encoder.exited.then(() => {
    throw new Error('the encoder exited before reading all its input');
  });
  drained.catch(() => {});
  died.catch(() => {});
  await Promise.race([drained, died]);
}

export function createAudioActivities(deps: ActivityDeps, audio: AudioDeps) {
  const { database, storage } = deps;

  const audioKind: HeavyKind<AudioActivityInput, AudioResult> = {
    name: 'audio',
    workPhase: 'synthesis',
    check(input) {
      if (!FORMATS[input.request.format]) {
        throw ApplicationFailure.nonRetryable(
          `unknown format ${input.request.format}`,
          ErrorType.InvalidInput,
        );
      }
    },
    async begin(input, { attempt, signal }) {
      const { request } = input;
      const spec = FORMATS[request.format];
      let identity: VoiceIdentity;
      try {
        identity = await audio.engine.identify(request.voice);
      } catch (err) {
        throw err instanceof EngineRejectedError
          ? ApplicationFailure.nonRetryable(err.message, ErrorType.EngineRejected)
          : err;
      }
      const chunks = chunkText(
        request.text,
        input.chunkChars,
        localeOfVoice(request.voice),
        !identity.sentenceChunks,
      );
      if (chunks.length === 0)
        throw ApplicationFailure.nonRetryable('the text is empty', ErrorType.InvalidInput);
      // With an encoder a segment is one encoder process and one stored part (AUDIO_SEGMENT_CHARS). Without
      // one (WAV) it is only a unit of parallel work: one chunk each, so a short text keeps every lane busy.
      const segments = segmentChunks(
        chunks,
        !spec.encoder ? 0 : spec.segmentable ? input.segmentChars : Infinity,
      );
      const total = request.text.length;

      const parts = new Map<number, number>(); // part index -> bytes
      for (const p of await storage.listParts(input.jobId)) parts.set(p.index, p.bytes);
      const chunkStored = (c: TextChunk) => parts.has(c.index);
      const segmentEncoded = (s: Segment) => parts.has(ENCODED_PART_BASE + s.index);
      const storedAtStart = new Set(chunks.filter(chunkStored).map((c) => c.index));
      const resumedChars = chunks.filter(chunkStored).reduce((n, c) => n + c.text.length, 0);
      // Progress counts characters whose audio is final: encoded (MP3, Ogg) or stored (WAV).
      let doneChars = spec.encoder
        ? segments.filter(segmentEncoded).reduce((n, s) => n + s.characters, 0)
        : resumedChars;
      const checkpoint = (): AudioCheckpoint => ({
        chunksStored: chunks.filter(chunkStored).length,
        segmentsEncoded: spec.encoder ? segments.filter(segmentEncoded).length : 0,
        chunks: chunks.length,
        segments: segments.length,
      });
      const loopDelay = monitorEventLoopDelay({ resolution: 10 });
      let rate = 0;
      // The sentence cache: for engines cut by sentence (Piper), per tenant, when a TTL is set.
      const cacheTtl = identity.sentenceChunks ? (audio.sentenceCacheTtlMs ?? 0) : 0;
      const tenantId = cacheTtl > 0 ? (await repo.getJob(database.db, input.jobId))?.tenantId : undefined;
      // A worker killed between storing a chunk and recording it (the record follows the part) left a
      // stored chunk without its record: the attempt before this one spoke it, and is recorded for it
      // now, so every spoken chunk keeps its record. Not with the sentence cache on: a chunk taken from
      // the cache is stored without a record too, and nothing tells afterwards which one it was.
      if (attempt > 1 && cacheTtl === 0 && storedAtStart.size > 0) {
        const recorded = new Set(
          (await repo.listAudioChunks(database.db, input.jobId)).map((r) => r.chunkIndex),
        );
        const before = (await repo.listAttempts(database.db, input.jobId)).find(
          (a) => a.attempt === attempt - 1,
        );
        for (const chunk of chunks) {
          if (!storedAtStart.has(chunk.index) || recorded.has(chunk.index) || !WORD_CHAR.test(chunk.text))
            continue;
          await repo.recordAudioChunk(database.db, {
            jobId: input.jobId,
            chunkIndex: chunk.index,
            attempt: attempt - 1,
            worker: before?.worker ?? 'unknown',
            characters: chunk.text.length,
            samples: (parts.get(chunk.index) ?? 0) / 2,
          });
        }
      }
      let cached = 0;
      /** A cached sentence's samples, unless missing, expired or unreadable (then it is made again). */
      async function fromCache(key: string): Promise<Buffer | undefined> {
        const info = await storage.stat(key);
        if (!info || Date.now() - info.modifiedAt.getTime() > cacheTtl || info.size % 2 !== 0)
          return undefined;
        try {
          return Buffer.concat(await storage.read(key).toArray());
        } catch {
          return undefined;
        }
      }
      let synthesized = 0;
      let charsSynthesized = 0;

      // A chunk's part, its cache copy and its record are written behind the synthesis: the engine
      // speaks the next chunk meanwhile. work() drains them before the publish. A synthesised chunk's
      // record (which attempt spoke it) follows its part in the same write, never before it: a retry
      // that finds the part missing speaks the chunk again, and must not find it recorded already.
      const writes = writeBehind(WRITES_IN_FLIGHT);
      const storeChunk = (chunk: TextChunk, samples: Buffer, record?: () => Promise<void>) =>
        writes.add(async () => {
          await storage.writePart(input.jobId, chunk.index, Readable.from([samples]));
          parts.set(chunk.index, samples.length);
          await record?.();
        });

      /** A chunk's samples: from storage, or synthesised now and stored. `null`: stored, not needed. */
      async function chunkSamples(chunk: TextChunk, needed: boolean): Promise<Buffer | null> {
        if (chunkStored(chunk)) {
          if (!needed) return null;
          return Buffer.concat(await storage.readPart(input.jobId, chunk.index).toArray());
        }
        // A chunk without a letter or digit (a line break between paragraphs, a lone dash) says nothing:
        // no samples, and no engine call (Piper would refuse it as nothing to say).
        if (!WORD_CHAR.test(chunk.text)) {
          await storeChunk(chunk, Buffer.alloc(0));
          return Buffer.alloc(0);
        }
        const cacheKey =
          tenantId !== undefined ? sentenceCacheKey(tenantId, identity, request, chunk.text) : undefined;
        const hit = cacheKey ? await fromCache(cacheKey) : undefined;
        if (hit) {
          await storeChunk(chunk, hit);
          cached++;
          return hit;
        }
        const pcm = await audio.engine.synthesize(chunk.text, {
          voice: request.voice,
          rate: request.rate,
          pitch: request.pitch,
          signal,
        });
        if (pcm.sampleRate !== rate) {
          throw new Error(`the engine spoke chunk ${chunk.index} at ${pcm.sampleRate} Hz, not ${rate} Hz`);
        }
        await storeChunk(chunk, pcm.samples, () =>
          repo.recordAudioChunk(database.db, {
            jobId: input.jobId,
            chunkIndex: chunk.index,
            attempt,
            worker: deps.workerName,
            characters: chunk.text.length,
            samples: pcm.samples.length / 2,
          }),
        );
        if (cacheKey) await writes.add(() => storage.writeObject(cacheKey, Readable.from([pcm.samples])));
        synthesized++;
        charsSynthesized += chunk.text.length;
        return pcm.samples;
      }

      return {
        resumedFrom: resumedChars,
        progressFrom: doneChars,
        started: {
          message: resumedChars > 0 ? 'audio resuming from stored parts' : 'audio starting',
          fields: {
            chunks: chunks.length,
            segments: segments.length,
            chunksStored: chunks.filter(chunkStored).length,
            segmentsEncoded: spec.encoder ? segments.filter(segmentEncoded).length : 0,
            format: request.format,
            voice: request.voice,
          },
        },
        checkpoint,
        fileName: audioFileName(input),

        async work(scope) {
          await scope.report(doneChars, total, true);
          // Reports go out in the background (in order): a slow signal must not stall the pipelines.
          const report = () => scope.background(() => scope.report(doneChars, total));
          loopDelay.enable();
          rate = await audio.engine.sampleRate(request.voice);

          async function runSegment(segment: Segment): Promise<void> {
            if (spec.encoder && segmentEncoded(segment)) return;
            const encoder = spec.encoder ? startEncoder(spec, rate) : undefined;
            const encoded: Buffer[] = [];
            encoder?.stdout.on('data', (c: Buffer) => encoded.push(c));
            const needed = encoder !== undefined;
            // Look-ahead: the engine speaks the next chunks (one at a time) while the encoder takes this
            // one, so a slow synthesis or database write never leaves the encoder without input.
            const pending: Promise<Buffer | null>[] = [];
            let queued = 0;
            let chain: Promise<unknown> = Promise.resolve();
            const enqueue = () => {
              if (queued >= segment.chunks.length) return;
              const chunk = segment.chunks[queued++]!;
              const p = chain.then(() => chunkSamples(chunk, needed));
              p.catch(() => {});
              chain = p.catch(() => {});
              pending.push(p);
            };
            for (let i = 0; i < LOOK_AHEAD_CHUNKS; i++) enqueue();
            try {
              for (let k = 0; k < segment.chunks.length; k++) {
                const chunk = segment.chunks[k]!;
                const samples = await pending[k]!;
                pending[k] = Promise.resolve(null); // let the samples go
                enqueue();
                if (encoder && samples) await feed(encoder, samples, signal);
                if (encoder || !storedAtStart.has(chunk.index)) doneChars += chunk.text.length;
                scope.heartbeat();
                report();
              }
              if (encoder) {
                encoder.stdin.end();
                await encoder.exited;
                // Stored only after a clean exit, so a stored segment is always complete.
                const body = Buffer.concat(encoded);
                await storage.writePart(
                  input.jobId,
                  ENCODED_PART_BASE + segment.index,
                  Readable.from([body]),
                );
                parts.set(ENCODED_PART_BASE + segment.index, body.length);
              }
            } catch (err) {
              encoder?.kill();
              throw err;
            }
          }

          // `parallelism` lanes take the segments in text order.
          let nextSegment = 0;
          try {
            await scope.lanes({
              count: Math.min(audio.parallelism, segments.length),
              next: () => segments[nextSegment++],
              run: runSegment,
            });
          } catch (err) {
            await writes.settle(); // what was synthesised before the failure stays stored for the retry
            throw err;
          }
          await writes.drain();
        },

        async publish(key) {
          const pcmBytes = chunks.reduce((n, c) => n + parts.get(c.index)!, 0);
          // The captions first (from the chunks' lengths, known before the parts are published).
          const captionsKey = `${key}.vtt`;
          const vtt = webVtt(
            captionCues(
              chunks,
              chunks.map((c) => parts.get(c.index)! / 2),
              rate,
            ),
          );
          const captions = await storage.writeObject(captionsKey, Readable.from([Buffer.from(vtt)]));
          const captionsName = `${audioFileName(input).replace(/\.[^.]*$/, '')}.vtt`;
          let published: { bytes: number; sha256: string };
          if (spec.encoder) {
            const encodedParts = async function* () {
              for (const s of segments) yield* storage.readPart(input.jobId, ENCODED_PART_BASE + s.index);
            };
            published = await storage.writeObject(key, Readable.from(encodedParts()));
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
            engine: identity.engine,
            voice: request.voice,
            modelSha256: identity.modelSha256,
            captionsKey,
            artifacts: [
              {
                name: 'audio',
                fileName: audioFileName(input),
                contentType: spec.contentType,
                bytes: published.bytes,
                href: `/v1/jobs/${input.jobId}/download`,
              },
              {
                name: 'captions',
                fileName: captionsName,
                contentType: CAPTIONS_CONTENT_TYPE,
                bytes: captions.bytes,
                href: `/v1/jobs/${input.jobId}/captions`,
              },
            ],
          };
          loopDelay.disable();
          return {
            result,
            workDone: charsSynthesized,
            fields: {
              ...result,
              segments: segments.length,
              synthesized,
              fromSentenceCache: cached,
              reused: chunks.length - synthesized,
              eventLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
              eventLoopDelayMaxMs: Math.round(loopDelay.max / 1e4) / 100,
            },
          };
        },

        close: () => loopDelay.disable(),
      };
    },
    failure: (err) =>
      err instanceof EngineRejectedError
        ? ApplicationFailure.nonRetryable(err.message, ErrorType.EngineRejected)
        : err,
  };
  const attempts = attemptDeps(deps);

  async function synthesizeAudio(input: AudioActivityInput): Promise<AudioResult> {
    return runHeavyAttempt(attempts, audioKind, input);
  }

  return { synthesizeAudio };
}

export type AudioActivities = ReturnType<typeof createAudioActivities>;
