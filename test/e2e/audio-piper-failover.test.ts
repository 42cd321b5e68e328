/**
 * A Piper job's worker dies mid-job: the retry on the other worker keeps every chunk attempt 1 stored
 * (Piper samples noise, so a stored chunk is the truth and is never made again) and synthesises only
 * the rest; the published WAV is exactly the kept chunks plus the new ones (its samples are the sum of
 * the samples each chunk was recorded with, every chunk once).
 */
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkText } from '../../src/audio/chunks.js';
import { parseWav } from '../../src/audio/wav.js';
import { listAttempts, listAudioChunks } from '../../src/db/jobs-repo.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { speechText } from '../helpers/speech-text.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const CHARS = 3000;

interface JobBody {
  id: string;
  state: string;
  result: { chunks: number; voice: string } | null;
  error: unknown;
}

let stack: Stack;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  const env = {
    AUDIO_PARALLELISM: '1',
    PIPER_THREADS: '1',
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

describe('Piper failover', () => {
  it('keeps the chunks the killed attempt stored and publishes them with the new ones', async () => {
    const { key } = await stack.newUser('t-piper-failover');
    const call = api(stack, key);
    const text = speechText(CHARS, 17);
    const res = await call('/v1/audio', { method: 'POST', body: JSON.stringify({ text, format: 'wav' }) });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as JobBody;
    const storedAtKill = await eventually(
      async () => {
        const chunks = await listAudioChunks(stack.database.db, id);
        return chunks.length >= 6 ? chunks.length : undefined;
      },
      120_000,
      20,
    );
    const [first] = await listAttempts(stack.database.db, id);
    const victim = workers.find((w) => first?.worker === `${os.hostname()}:${w.pid}`);
    expect(victim, `attempt 1 ran on ${first?.worker}`).toBeDefined();
    await victim!.kill();

    const done = await eventually(
      async () => {
        const b = (await (await call(`/v1/jobs/${id}`)).json()) as JobBody;
        return ['succeeded', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
      },
      180_000,
      100,
    );
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.result!.voice).toBe('en_us-joe-medium');
    expect((await listAttempts(stack.database.db, id)).map((a) => a.attempt)).toEqual([1, 2]);

    // The chunks with words (a paragraph break is a chunk that says nothing and is never synthesised).
    const spoken = chunkText(text, 2000, 'en', false)
      .filter((c) => /[\p{L}\p{N}]/u.test(c.text))
      .map((c) => c.index);
    const rows = await listAudioChunks(stack.database.db, id);
    const byAttempt = (n: number) => rows.filter((r) => r.attempt === n).map((r) => r.chunkIndex);
    const [one, two] = [byAttempt(1), byAttempt(2)];
    expect(one.length).toBeGreaterThanOrEqual(storedAtKill);
    expect(two.length).toBeGreaterThan(0);
    // Every spoken chunk made exactly once: the kept ones were not made again.
    expect([...one, ...two].sort((a, b) => a - b)).toEqual(spoken);

    // The file is those chunks' samples, and nothing else.
    const wav = parseWav(Buffer.from(await (await call(`/v1/jobs/${id}/download`)).arrayBuffer()));
    expect(wav.data.length / 2).toBe(rows.reduce((n, r) => n + r.samples, 0));
  });
});
