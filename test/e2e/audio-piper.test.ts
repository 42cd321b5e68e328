/**
 * Piper's neural voice through HTTP on the real stack (the joe voice and the phonemizer from
 * `npm run setup`): GET /v1/voices, English by default, espeak-ng for other languages and on request,
 * pitch refused for the neural voice, text with nothing to say refused, the job's record of engine,
 * voice and model, an independent decoder's reading of the result, and a worker without the model files
 * refusing to start.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWav } from '../../src/audio/wav.js';
import { listAudioChunks } from '../../src/db/jobs-repo.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import { JOE_VOICE_FILES } from '../../tools/piper.js';

const run = promisify(execFile);
const JOE = 'en_us-joe-medium';
const JOE_SHA256 = JOE_VOICE_FILES['en_US-joe-medium.onnx']!.sha256;

interface JobBody {
  id: string;
  state: string;
  request: Record<string, unknown>;
  result: Record<string, unknown> & { fileName: string; durationSeconds: number; bytes: number };
  error: { type: string; message: string } | null;
  links: { self: string; download: string };
}

let stack: Stack;
let worker: WorkerProcess;
let call: ReturnType<typeof api>;

beforeAll(async () => {
  stack = await startStack({ queues: ['jobs'], env: { AUDIO_CHUNK_CHARS: '200' } });
  worker = await startWorkerProcess(['audio'], stack.childEnv);
  call = api(stack, (await stack.newUser('t-piper')).key);
});

afterAll(async () => {
  await worker?.stop();
  await stack?.stop();
});

async function post(body: Record<string, unknown>): Promise<Response> {
  return call('/v1/audio', { method: 'POST', body: JSON.stringify(body) });
}

async function submit(body: Record<string, unknown>): Promise<JobBody> {
  const res = await post(body);
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()) as JobBody;
}

async function finished(job: JobBody): Promise<JobBody> {
  return eventually(
    async () => {
      const b = (await (await call(job.links.self)).json()) as JobBody;
      return ['succeeded', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
    },
    120_000,
    200,
  );
}

describe('GET /v1/voices', () => {
  it('lists the neural voice first with its engine, language, quality, sample rate and licence', async () => {
    const res = await call('/v1/voices');
    expect(res.status).toBe(200);
    const { voices } = (await res.json()) as { voices: Record<string, unknown>[] };
    expect(voices[0]).toMatchObject({
      id: JOE,
      engine: 'piper',
      languages: ['en-us', 'en'],
      quality: 'medium',
      sampleRate: 22_050,
      license: 'CC0',
      pitch: false,
    });
    expect(voices.find((v) => v.id === 'vi')).toMatchObject({ engine: 'espeak-ng', pitch: true });
  });
});

describe('POST /v1/audio with Piper', () => {
  it('speaks English with the neural voice by default, and records engine, voice and model sha256', async () => {
    const text =
      'Hello there. This is the neural voice of offload, reading two short sentences, then a third!';
    const job = await finished(await submit({ text, format: 'wav' }));
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.request.voice).toBe(JOE);
    expect(job.result).toMatchObject({
      engine: expect.stringMatching(/^piper 1\.8\.0/) as unknown,
      voice: JOE,
      modelSha256: JOE_SHA256,
      sampleRate: 22_050,
    });
    const res = await call(job.links.download);
    const bytes = Buffer.from(await res.arrayBuffer());
    const wav = parseWav(bytes);
    expect(wav).toMatchObject({ format: 1, channels: 1, bitsPerSample: 16, sampleRate: 22_050 });
    expect(job.result.durationSeconds).toBeCloseTo(wav.data.length / 2 / 22_050, 3);
    // About 90 characters of English: several seconds of speech, not a blip and not minutes.
    expect(job.result.durationSeconds).toBeGreaterThan(3);
    expect(job.result.durationSeconds).toBeLessThan(20);
  });

  it('makes WebVTT captions beside the audio, one cue per sentence, ending with the audio', async () => {
    // The paragraph break is a chunk of its own with nothing to say: no cue, no samples, no failure.
    const text = 'First sentence here. The second one is longer, with a comma!\n\nIs this the third? Yes.';
    const job = await finished(await submit({ text, format: 'wav' }));
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    const artifacts = job.result.artifacts as { name: string; href: string; contentType: string }[];
    expect(artifacts.map((a) => a.name)).toEqual(['audio', 'captions']);
    const captions = artifacts.find((a) => a.name === 'captions')!;
    expect(captions.href).toBe(`/v1/jobs/${job.id}/captions`);
    const res = await call(captions.href);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/vtt/);
    const vtt = await res.text();
    expect(vtt.startsWith('WEBVTT\n')).toBe(true);
    const times = [
      ...vtt.matchAll(/^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$/gm),
    ].map((m) => {
      const t = m.slice(1).map(Number);
      return [
        t[0]! * 3600 + t[1]! * 60 + t[2]! + t[3]! / 1000,
        t[4]! * 3600 + t[5]! * 60 + t[6]! + t[7]! / 1000,
      ];
    });
    expect(times).toHaveLength(4);
    expect(vtt).toContain('The second one is longer, with a comma!');
    expect(times[0]![0]).toBe(0);
    for (let i = 1; i < times.length; i++) expect(times[i]![0]).toBeCloseTo(times[i - 1]![1]!, 3);
    // The last cue ends with the audio (WAV: exactly its samples), within 50 ms.
    const wav = parseWav(Buffer.from(await (await call(job.links.download)).arrayBuffer()));
    expect(Math.abs(times.at(-1)![1]! - wav.data.length / 2 / 22_050)).toBeLessThan(0.05);
    expect(job.result.chunks).toBeGreaterThanOrEqual(4);
    const other = await call(`/v1/jobs/${job.id.slice(0, -1)}X/captions`);
    expect([404, 422]).toContain(other.status);
  });

  it('makes an MP3 that ffprobe reads to the recorded duration', async () => {
    const job = await finished(
      await submit({ text: 'The neural voice also speaks MP3. It works.', language: 'en' }),
    );
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.result.voice).toBe(JOE);
    const file = path.join(os.tmpdir(), `${job.id}.mp3`);
    await fs.writeFile(file, Buffer.from(await (await call(job.links.download)).arrayBuffer()));
    const { stdout } = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', file]);
    const duration = Number((JSON.parse(stdout) as { format: { duration: string } }).format.duration);
    expect(Math.abs(duration - job.result.durationSeconds)).toBeLessThan(0.15);
  });

  it('keeps espeak-ng for Vietnamese and on request, with pitch', async () => {
    const vi = await submit({ text: 'Xin chào.', language: 'vi', format: 'wav' });
    expect(vi.request.voice).toMatch(/^vi/);
    const espeak = await submit({ text: 'Hello.', voice: 'en-us', pitch: 70, format: 'wav' });
    for (const j of [vi, espeak]) {
      const done = await finished(j);
      expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
      expect(done.result.engine).toMatch(/^espeak-ng \d/);
      expect(done.result.modelSha256).toBeNull();
    }
  });

  it.each([
    { body: { text: 'Hello.', pitch: 60 }, field: 'pitch', reason: 'has no pitch control' },
    { body: { text: 'Hello.', voice: JOE, pitch: 50 }, field: 'pitch', reason: 'has no pitch control' },
    { body: { text: '?!… -- «» ()' }, field: 'text', reason: 'only punctuation' },
    { body: { text: 'Hello.', voice: 'en_us-nobody-medium' }, field: 'voice', reason: 'unknown voice' },
  ])('422 naming $field: $reason', async ({ body, field, reason }) => {
    const res = await post(body);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await res.json()) as { errors: { field: string; reason: string }[] };
    const error = problem.errors.find((e) => e.field === field);
    expect(error, JSON.stringify(problem.errors)).toBeDefined();
    expect(error!.reason).toContain(reason);
  });
});

describe('the sentence cache', () => {
  const sentences = Array.from(
    { length: 12 },
    (_, i) =>
      `Sentence number ${i + 1} of the cached document talks about item ${String.fromCharCode(65 + i)}.`,
  );

  it('re-synthesises only the changed sentences of an edited document, never across tenants', async () => {
    const first = await finished(await submit({ text: sentences.join(' '), format: 'wav' }));
    expect(first.state, JSON.stringify(first.error)).toBe('succeeded');
    expect(first.result.chunks).toBe(12);
    expect(await listAudioChunks(stack.database.db, first.id)).toHaveLength(12);

    const edited = [...sentences];
    edited[4] = 'This fifth sentence was rewritten after the first job.';
    const second = await finished(await submit({ text: edited.join(' '), format: 'wav' }));
    expect(second.state, JSON.stringify(second.error)).toBe('succeeded');
    expect(second.result.chunks).toBe(12);
    // Only the changed sentence was synthesised; the other eleven came from the cache.
    const made = await listAudioChunks(stack.database.db, second.id);
    expect(made.map((c) => c.chunkIndex)).toEqual([4]);
    // The file is the cached sentences' samples plus the new one, and still speech of the full length.
    expect(Math.abs(second.result.durationSeconds - first.result.durationSeconds)).toBeLessThan(3);

    // Another tenant with the same text synthesises everything itself.
    const other = api(stack, (await stack.newUser('t-piper-other')).key);
    const res = await other('/v1/audio', {
      method: 'POST',
      body: JSON.stringify({ text: sentences.join(' '), format: 'wav' }),
    });
    expect(res.status).toBe(202);
    const third = (await res.json()) as JobBody;
    const done = await eventually(
      async () => {
        const b = (await (await other(third.links.self)).json()) as JobBody;
        return ['succeeded', 'failed'].includes(b.state) ? b : undefined;
      },
      120_000,
      200,
    );
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(await listAudioChunks(stack.database.db, third.id)).toHaveLength(12);
  });
});

describe('audio worker start-up', () => {
  it('refuses to start without the model files, saying what to install', async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'no-voices-'));
    try {
      const started = startWorkerProcess(['audio'], { ...stack.childEnv, VOICES_DIR: empty });
      await expect(started).rejects.toThrow(/worker exited with 1 before starting/);
      await expect(started).rejects.toThrow(/holds no Piper voice.*npm run setup/s);
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });
});
