/**
 * Speech audio through HTTP on the real stack with espeak-ng (asked for by voice; Piper's neural voice,
 * the English default, is test/e2e/audio-piper.test.ts), lame and ffmpeg: voices, validation, WAV, MP3
 * and Ogg/Opus results checked with ffprobe, live progress, determinism, and cancellation that stops the
 * engine and deletes the parts.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWav } from '../../src/audio/wav.js';
import { listAudioChunks, listJobEvents } from '../../src/db/jobs-repo.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { speechText } from '../helpers/speech-text.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const run = promisify(execFile);

interface JobBody {
  id: string;
  kind: string;
  state: string;
  workflowId: string;
  request: Record<string, unknown>;
  progress: { done: number; total: number | null; percent: number; unit: string; state: string };
  result: {
    fileName: string;
    contentType: string;
    bytes: number;
    sha256: string;
    durationSeconds: number;
    sampleRate: number;
    characters: number;
    chunks: number;
    engine: string;
  } | null;
  error: { type: string; message: string } | null;
  links: { self: string; events: string; download: string };
}

const MAX_CHARS = 150_000;
let stack: Stack;
let worker: WorkerProcess;
let call: ReturnType<typeof api>;

beforeAll(async () => {
  const env = { AUDIO_MAX_TEXT_CHARS: String(MAX_CHARS), AUDIO_CHUNK_CHARS: '400' };
  stack = await startStack({ queues: ['jobs'], env });
  worker = await startWorkerProcess(['audio'], stack.childEnv);
  call = api(stack, (await stack.newUser('t-audio')).key);
});

afterAll(async () => {
  await worker?.stop();
  await stack?.stop();
});

async function submit(body: Record<string, unknown>): Promise<JobBody> {
  const res = await call('/v1/audio', { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()) as JobBody;
}

async function finished(job: JobBody, timeoutMs = 60_000): Promise<JobBody> {
  return eventually(async () => {
    const b = (await (await call(job.links.self)).json()) as JobBody;
    return ['succeeded', 'failed', 'cancelled'].includes(b.state) ? b : undefined;
  }, timeoutMs);
}

async function download(job: JobBody): Promise<{ file: string; bytes: Buffer; type: string | null }> {
  const res = await call(job.links.download);
  expect(res.status).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  const file = path.join(os.tmpdir(), `${job.id}-${job.result!.fileName}`);
  await fs.writeFile(file, bytes);
  return { file, bytes, type: res.headers.get('content-type') };
}

/** Duration and stream facts from ffprobe, an independent decoder. */
async function probe(file: string): Promise<{ duration: number; codec: string; sampleRate: number }> {
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file],
  ]);
  const info = JSON.parse(stdout) as {
    format: { duration: string };
    streams: { codec_name: string; sample_rate: string }[];
  };
  return {
    duration: Number(info.format.duration),
    codec: info.streams[0]!.codec_name,
    sampleRate: Number(info.streams[0]!.sample_rate),
  };
}

/** Decode the whole file with ffmpeg; the number of samples it gives at `rate`. */
async function decodedSeconds(file: string, rate: number): Promise<number> {
  const { stdout } = await run(
    'ffmpeg',
    ['-v', 'error', '-i', file, '-f', 's16le', '-ac', '1', '-ar', String(rate), 'pipe:1'],
    { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 },
  );
  return stdout.length / 2 / rate;
}

describe('GET /v1/voices', () => {
  it('lists the engine voices, English and Vietnamese among them', async () => {
    const res = await call('/v1/voices');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { engine: string; voices: { id: string; languages: string[] }[] };
    expect(body.engine).toMatch(/espeak-ng/);
    const ids = body.voices.map((v) => v.id);
    expect(ids).toEqual(expect.arrayContaining(['en-us', 'en-gb', 'vi', 'de', 'fr-fr']));
    expect(body.voices.length).toBeGreaterThan(50);
    // A language picks the voice the engine ranks first for it.
    const fr = await submit({ text: 'Bonjour.', language: 'fr', format: 'wav' });
    expect(fr.request.voice).toBe('fr-fr');
    const vi = await submit({ text: 'Xin chào.', language: 'vi-VN', format: 'wav' });
    expect(vi.request.voice).toMatch(/^vi/);
    for (const j of [fr, vi]) expect((await finished(j)).state).toBe('succeeded');
  });
});

describe('audio worker start-up', () => {
  it('refuses to start without the speech engine, saying what to install', async () => {
    // No /usr/bin on PATH: espeak-ng, lame and ffmpeg cannot be found (node itself is started by path).
    const started = startWorkerProcess(['audio'], { ...stack.childEnv, PATH: '/nonexistent' });
    await expect(started).rejects.toThrow(/worker exited with 1 before starting/);
    await expect(started).rejects.toThrow(/espeak-ng cannot run .*apt-get install -y espeak-ng/);
  });
});

describe('GET /openapi.json', () => {
  it('describes POST /v1/audio and GET /v1/voices', async () => {
    const doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths['/v1/audio']!.post!.responses).sort()).toEqual([
      '200',
      '202',
      '400',
      '401',
      '409',
      '413',
      '415',
      '422',
      '429',
      '503',
    ]);
    expect(doc.paths['/v1/voices']?.get).toBeDefined();
    expect(doc.components.schemas).toHaveProperty('AudioRequest');
    expect(doc.components.schemas).toHaveProperty('Voice');
  });
});

describe('POST /v1/audio validation', () => {
  it.each([
    { body: { text: '' }, field: 'text', reason: 'must not be empty' },
    { body: { text: '   \n ' }, field: 'text', reason: 'must contain something to say' },
    {
      body: { text: 'x'.repeat(MAX_CHARS + 1) },
      field: 'text',
      reason: `must be at most ${MAX_CHARS} characters`,
    },
    { body: { text: 'bell \u0007 here' }, field: 'text', reason: 'must not contain control characters' },
    { body: { text: 'escape \u001b[31m red' }, field: 'text', reason: 'must not contain control characters' },
    { body: { text: 'hi', voice: 'klingon' }, field: 'voice', reason: 'unknown voice' },
    { body: { text: 'hi', language: 'tlh' }, field: 'language', reason: 'no voice speaks this language' },
    { body: { text: 'hi', language: 'not a tag' }, field: 'language', reason: 'must be a language tag' },
    { body: { text: 'hi', voice: 'en-us', language: 'en' }, field: 'language', reason: 'not both' },
    { body: { text: 'hi', format: 'flac' }, field: 'format', reason: 'must be one of: wav, mp3, ogg' },
    { body: { text: 'hi', rate: 3 }, field: 'rate', reason: 'must be between 0.5 and 2.5' },
    { body: { text: 'hi', rate: 0.1 }, field: 'rate', reason: 'must be between 0.5 and 2.5' },
    { body: { text: 'hi', rate: 'fast' }, field: 'rate', reason: 'must be a number' },
    { body: { text: 'hi', pitch: 101 }, field: 'pitch', reason: 'must be between 0 and 100' },
    { body: { text: 'hi', pitch: -1 }, field: 'pitch', reason: 'must be between 0 and 100' },
    { body: { text: 'hi', speed: 2 }, field: 'speed', reason: 'unknown field' },
    { body: { voice: 'en-us' }, field: 'text', reason: '' },
  ])('422 naming $field: $reason', async ({ body, field, reason }) => {
    const res = await call('/v1/audio', { method: 'POST', body: JSON.stringify(body) });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await res.json()) as { errors: { field: string; reason: string }[] };
    const error = problem.errors.find((e) => e.field === field);
    expect(error, JSON.stringify(problem.errors)).toBeDefined();
    expect(error!.reason).toContain(reason);
  });

  it('answers malformed JSON with 400 and a missing key with 401', async () => {
    const bad = await call('/v1/audio', {
      method: 'POST',
      body: '{"text":',
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    const anonymous = await api(stack, undefined)('/v1/audio', { method: 'POST', body: '{"text":"hi"}' });
    expect(anonymous.status).toBe(401);
  });
});

describe('POST /v1/audio → download', () => {
  it('makes a valid WAV whose duration grows with the text, and the same bytes for the same request', async () => {
    const short = await submit({ text: speechText(600), format: 'wav', voice: 'en-us' });
    expect(short.kind).toBe('audio');
    expect(short.request).toMatchObject({
      voice: 'en-us',
      format: 'wav',
      rate: 1,
      pitch: 50,
      characters: 600,
    });
    expect(short.request).not.toHaveProperty('text');
    // espeak-ng by request (English defaults to Piper, whose samples differ from run to run).
    const long = await submit({ text: speechText(3000), format: 'wav', voice: 'en-us' });
    const again = await submit({ text: speechText(3000), format: 'wav', voice: 'en-us' });
    const [s, l, a] = [await finished(short), await finished(long), await finished(again)];
    for (const j of [s, l, a]) expect(j.state, JSON.stringify(j.error)).toBe('succeeded');

    const sw = await download(s);
    const lw = await download(l);
    expect(sw.type).toBe('audio/wav');
    for (const [job, got] of [
      [s, sw],
      [l, lw],
    ] as const) {
      const wav = parseWav(got.bytes);
      expect(got.bytes.toString('ascii', 0, 4)).toBe('RIFF');
      expect(got.bytes.readUInt32LE(4)).toBe(got.bytes.length - 8);
      expect(wav).toMatchObject({ format: 1, channels: 1, bitsPerSample: 16, sampleRate: 22050 });
      expect(wav.declaredDataBytes).toBe(got.bytes.length - 44);
      expect(got.bytes.length).toBe(job.result!.bytes);
      expect(job.result!.sampleRate).toBe(22050);
      expect(job.result!.durationSeconds).toBeCloseTo(wav.data.length / 2 / 22050, 3);
      expect(job.result!.engine).toMatch(/^espeak-ng \d/);
      // ffprobe reads the same length from the header.
      expect((await probe(got.file)).duration).toBeCloseTo(job.result!.durationSeconds, 2);
      // Not silence: speech has loud samples.
      let peak = 0;
      for (let i = 0; i < wav.data.length; i += 2) peak = Math.max(peak, Math.abs(wav.data.readInt16LE(i)));
      expect(peak).toBeGreaterThan(5000);
    }
    // Five times the text: roughly five times the speech (within a third).
    const ratio = l.result!.durationSeconds / s.result!.durationSeconds;
    expect(ratio).toBeGreaterThan(5 * 0.67);
    expect(ratio).toBeLessThan(5 * 1.33);
    expect(l.result!.chunks).toBeGreaterThan(s.result!.chunks);
    // Deterministic: the same request gives the same file.
    expect(a.result!.sha256).toBe(l.result!.sha256);
    expect((await listJobEvents(stack.database.db, l.id)).map((e) => e.state)).toEqual([
      'queued',
      'running',
      'succeeded',
    ]);
    // The parts are gone once the job is done.
    await expect(fs.readdir(path.join(stack.storageDir, 'parts', l.id))).rejects.toThrow();
  });

  it.each([
    ['mp3', 'audio/mpeg', 'mp3', 22050],
    ['ogg', 'audio/ogg; codecs=opus', 'opus', 48000],
  ] as const)(
    'makes %s that an independent decoder reads to the expected duration',
    async (format, type, codec, rate) => {
      const text = speechText(2500, 7);
      const [wavJob, job] = [
        await submit({ text, format: 'wav', voice: 'en-us' }),
        await submit({ text, format, voice: 'en-us', fileName: `Sprache ü.${format}` }),
      ];
      const [w, done] = [await finished(wavJob), await finished(job)];
      expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
      const got = await download(done);
      expect(got.type).toBe(type);
      expect(got.bytes.length).toBe(done.result!.bytes);
      expect(done.result!.durationSeconds).toBe(w.result!.durationSeconds);
      const info = await probe(got.file);
      expect(info.codec).toBe(codec);
      expect(info.sampleRate).toBe(rate);
      // Encoders add at most a frame or two of padding; the decoded length matches the samples made.
      expect(Math.abs(info.duration - done.result!.durationSeconds)).toBeLessThan(0.15);
      expect(Math.abs((await decodedSeconds(got.file, 22050)) - done.result!.durationSeconds)).toBeLessThan(
        0.15,
      );
      const disposition = (await call(done.links.download)).headers.get('content-disposition');
      expect(disposition).toContain(`filename*=UTF-8''Sprache%20%C3%BC.${format}`);
    },
  );

  it('shows live progress in characters while a long job runs', async () => {
    const text = speechText(30_000, 3);
    const job = await submit({ text, format: 'mp3', voice: 'en-us' });
    const seen: number[] = [];
    const final = await eventually(
      async () => {
        const b = (await (await call(job.links.self)).json()) as JobBody;
        if (b.state === 'running') {
          expect(b.progress.unit).toBe('characters');
          seen.push(b.progress.done);
        }
        return b.state === 'succeeded' || b.state === 'failed' ? b : undefined;
      },
      120_000,
      100,
    );
    expect(final.state).toBe('succeeded');
    expect(seen.filter((d) => d > 0 && d < text.length).length).toBeGreaterThan(0);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(final.progress).toMatchObject({
      done: text.length,
      total: text.length,
      percent: 100,
      unit: 'characters',
    });
  });

  it('cancelling stops the engine within seconds and deletes the parts', async () => {
    const text = speechText(120_000, 5);
    const job = await submit({ text, format: 'mp3', voice: 'en-us' });
    await eventually(
      async () => {
        const chunks = await listAudioChunks(stack.database.db, job.id);
        return chunks.length >= 3 ? chunks : undefined;
      },
      60_000,
      50,
    );
    const children = async () => {
      const { stdout } = await run('ps', ['-o', 'comm=', '--ppid', String(worker.pid)]).catch(() => ({
        stdout: '',
      }));
      return stdout.split('\n').filter((c) => /espeak|lame/.test(c));
    };
    expect((await children()).length).toBeGreaterThan(0);
    await stack.temporal.client.workflow.getHandle(job.workflowId).cancel();
    const cancelledAt = Date.now();
    await eventually(async () => ((await children()).length === 0 ? true : undefined), 10_000, 50);
    const stoppedMs = Date.now() - cancelledAt;
    expect(stoppedMs).toBeLessThan(3000);
    const final = await finished(job);
    expect(final.state).toBe('cancelled');
    await eventually(async () => {
      try {
        await fs.readdir(path.join(stack.storageDir, 'parts', job.id));
        return undefined;
      } catch {
        return true;
      }
    }, 10_000);
    const download = await call(final.links.download);
    expect(download.status).toBe(409);
    console.log(`audio cancel: engine and encoder gone ${stoppedMs} ms after the cancel request`);
  });
});
