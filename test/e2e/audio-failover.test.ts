/**
 * An audio worker dies mid-job: two worker processes serve `audio`; the one working is killed with
 * SIGKILL; the retry runs on the other, keeps the MP3 segments already encoded, synthesises only the
 * chunks no attempt stored (counted per chunk in audio_chunks), and the MP3 equals an uninterrupted
 * run's byte for byte.
 */
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAttempts, listAudioChunks } from '../../src/db/jobs-repo.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { speechText } from '../helpers/speech-text.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const CHARS = 40_000;
const CHUNK_CHARS = 500;
const SEGMENT_CHARS = 5000;

interface JobBody {
  id: string;
  state: string;
  progress: { done: number; attempt: number };
  result: { sha256: string; bytes: number; chunks: number; durationSeconds: number } | null;
  error: unknown;
}

let stack: Stack;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  // One engine process per job makes the job long enough (several seconds) to kill it midway.
  const env = {
    AUDIO_CHUNK_CHARS: String(CHUNK_CHARS),
    AUDIO_SEGMENT_CHARS: String(SEGMENT_CHARS),
    AUDIO_PARALLELISM: '1',
    AUDIO_HEARTBEAT_TIMEOUT_MS: '3000',
    AUDIO_RETRY_INITIAL_MS: '500',
    AUDIO_RETRY_MAX_MS: '2000',
  };
  stack = await startStack({ queues: ['jobs'], env });
  workers = await Promise.all([
    startWorkerProcess(['audio'], stack.childEnv),
    startWorkerProcess(['audio'], stack.childEnv),
  ]);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.stop();
});

describe('audio failover', () => {
  it('finishes a killed job on the other worker without synthesising stored chunks again', async () => {
    const { key } = await stack.newUser('t-audio-failover');
    const call = api(stack, key);
    const text = speechText(CHARS, 11);
    const post = async () => {
      const res = await call('/v1/audio', {
        method: 'POST',
        body: JSON.stringify({ text, format: 'mp3', voice: 'en-us' }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as JobBody).id;
    };
    const job = async (id: string) => (await (await call(`/v1/jobs/${id}`)).json()) as JobBody;
    const final = (id: string) =>
      eventually(
        async () => {
          const b = await job(id);
          return ['succeeded', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
        },
        120_000,
        100,
      );

    const id = await post();
    // Kill once about a fifth of the chunks are stored, whichever worker runs attempt 1.
    const storedAtKill = await eventually(
      async () => {
        const chunks = await listAudioChunks(stack.database.db, id);
        return chunks.length >= 25 ? chunks.length : undefined;
      },
      60_000,
      20,
    );
    const [first] = await listAttempts(stack.database.db, id);
    const victim = workers.find((w) => first?.worker === `${os.hostname()}:${w.pid}`);
    expect(victim, `attempt 1 ran on ${first?.worker}`).toBeDefined();
    const survivor = workers.find((w) => w !== victim)!;
    await victim!.kill();

    const done = await final(id);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    const chunkCount = done.result!.chunks;
    expect(chunkCount).toBeGreaterThanOrEqual(CHARS / CHUNK_CHARS);

    const attempts = await listAttempts(stack.database.db, id);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(attempts[1]!.worker).toBe(`${os.hostname()}:${survivor.pid}`);

    // Every chunk was synthesised exactly once, by one of the two attempts.
    const rows = await listAudioChunks(stack.database.db, id);
    const byAttempt = (n: number) => rows.filter((r) => r.attempt === n).map((r) => r.chunkIndex);
    const [one, two] = [byAttempt(1), byAttempt(2)];
    expect(one.length).toBeGreaterThanOrEqual(storedAtKill);
    expect(two.length).toBeGreaterThan(0);
    expect(one.filter((i) => two.includes(i))).toEqual([]);
    expect([...one, ...two].sort((a, b) => a - b)).toEqual(Array.from({ length: chunkCount }, (_, i) => i));
    // The retry started at the first missing chunk: attempt 1 stored a prefix, attempt 2 did the rest.
    expect(Math.min(...two)).toBe(one.length);
    // It resumed with the characters of the stored chunks and synthesised only the rest.
    expect(attempts[1]!.resumedFromRows).toBeGreaterThan(0);
    expect(attempts[1]!.rowsRead).toBe(CHARS - attempts[1]!.resumedFromRows);

    // The survivor kept the segments attempt 1 had encoded.
    const resumed = survivor
      .output()
      .split('\n')
      .find((l) => l.includes('"audio resuming from stored parts"') && l.includes(id));
    expect(resumed, survivor.output()).toBeDefined();
    const { segmentsEncoded, chunksStored } = JSON.parse(resumed!) as Record<string, number>;
    expect(segmentsEncoded).toBeGreaterThanOrEqual(1);
    expect(chunksStored).toBe(one.length);

    // The same request, uninterrupted, gives the same file.
    const again = await final(await post());
    expect(again.result!.sha256).toBe(done.result!.sha256);
    expect(again.result!.bytes).toBe(done.result!.bytes);
    const a = Buffer.from(await (await call(`/v1/jobs/${id}/download`)).arrayBuffer());
    const b = Buffer.from(await (await call(`/v1/jobs/${again.id}/download`)).arrayBuffer());
    expect(a.equals(b)).toBe(true);

    console.log(
      `audio failover: ${storedAtKill} of ${chunkCount} chunks stored at the kill; ` +
        `attempt 1 synthesised ${one.length}, attempt 2 synthesised ${two.length} and kept ${segmentsEncoded} encoded segments`,
    );
  });
});
