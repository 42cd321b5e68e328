/**
 * The Piper engine with the installed joe voice (`npm run setup`): real inference on a thread pool, the
 * rate as length scale, refusals, the start-up check, and the combined engine's routing and choices.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { captionCues, vttTime, webVtt } from '../../src/audio/captions.js';
import { chunkText } from '../../src/audio/chunks.js';
import { sentenceCacheKey } from '../../src/activities/audio/synthesize-audio.js';
import { EngineRejectedError, type Voice } from '../../src/audio/engine.js';
import { preferredVoiceForLanguage, SpeechEngines } from '../../src/audio/engines.js';
import { EspeakNgEngine } from '../../src/audio/espeak-ng.js';
import { PiperEngine } from '../../src/audio/piper/engine.js';
import { InferencePool, inferenceLayout } from '../../src/audio/piper/inference.js';
import { toPcm16 } from '../../src/audio/piper/inference-thread.js';
import { phonemizerDir, voicesDir } from '../../tools/piper.js';

const JOE = 'en_us-joe-medium';
const pools: InferencePool[] = [];
const engine = new PiperEngine({
  voicesDir: voicesDir(),
  phonemizer: { dir: phonemizerDir(), python: 'python3' },
  pool: () => {
    const pool = new InferencePool({ threads: 2, intraOpThreads: 1 });
    pools.push(pool);
    return pool;
  },
});
afterAll(async () => {
  await engine.close();
  await Promise.all(pools.map((p) => p.close()));
});

const seconds = (pcm: { samples: Buffer; sampleRate: number }) => pcm.samples.length / 2 / pcm.sampleRate;

describe('PiperEngine', () => {
  it('lists the joe voice with its engine, quality, rate and licence, and no pitch', async () => {
    const voices = await engine.voices();
    expect(voices.find((v) => v.id === JOE)).toMatchObject({
      engine: 'piper',
      languages: ['en-us', 'en'],
      quality: 'medium',
      sampleRate: 22_050,
      license: 'CC0',
      pitch: false,
    });
  });

  it('speaks a chunk of several sentences as 22,050 Hz PCM with sound in it, and records the model', async () => {
    const pcm = await engine.synthesize('Hello there. This is a neural voice speaking!', {
      voice: JOE,
      rate: 1,
      pitch: 50,
    });
    expect(pcm.sampleRate).toBe(22_050);
    expect(seconds(pcm)).toBeGreaterThan(1.5);
    expect(seconds(pcm)).toBeLessThan(8);
    const samples = new Int16Array(pcm.samples.buffer, pcm.samples.byteOffset, pcm.samples.length / 2);
    // Peak-normalised as piper-tts does: the loudest sample is at full scale.
    expect(Math.max(...samples.map((s) => Math.abs(s)))).toBeGreaterThan(30_000);
    const id = await engine.identify(JOE);
    expect(id.engine).toMatch(/^piper 1\.8\.0 \(onnxruntime-node 1\.30\.0\)$/);
    expect(id.modelSha256).toBe('58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06');
  });

  it('maps rate to the length scale: twice the rate, about half the duration', async () => {
    const text = 'The committee finally reached a decision that satisfied almost nobody.';
    const normal = seconds(await engine.synthesize(text, { voice: JOE, rate: 1, pitch: 50 }));
    const fast = seconds(await engine.synthesize(text, { voice: JOE, rate: 2, pitch: 50 }));
    expect(fast / normal).toBeGreaterThan(0.35);
    expect(fast / normal).toBeLessThan(0.7);
  });

  it('refuses a pitch, an unknown voice and a text with nothing to say, as non-retryable refusals', async () => {
    await expect(engine.synthesize('Hi.', { voice: JOE, rate: 1, pitch: 70 })).rejects.toThrow(
      EngineRejectedError,
    );
    await expect(engine.synthesize('Hi.', { voice: 'nobody', rate: 1, pitch: 50 })).rejects.toThrow(
      /no Piper voice "nobody"/,
    );
    await expect(engine.synthesize('?!… ---', { voice: JOE, rate: 1, pitch: 50 })).rejects.toThrow(
      /nothing to say/,
    );
  });

  it('refuses to start without voices or the phonemizer, saying what to install', async () => {
    const bare = new PiperEngine({
      voicesDir: '/nonexistent/voices',
      phonemizer: { dir: '/nonexistent/p', python: 'python3' },
    });
    await expect(bare.check()).rejects.toThrow(
      /holds no Piper voice.*phonemizer|phonemizer is missing.*holds no Piper voice/s,
    );
    await expect(bare.check()).rejects.toThrow(/npm run setup/);
  });

  it('converts float samples the way piper-tts does', () => {
    expect(Array.from(new Int16Array(toPcm16(Float32Array.from([0.5, -0.25, 0])).buffer))).toEqual([
      32767, -16383, 0,
    ]);
    expect(Array.from(new Int16Array(toPcm16(Float32Array.from([0, 0])).buffer))).toEqual([0, 0]);
  });
});

describe('inferenceLayout', () => {
  it('gives each sentence that can run a thread, up to one per core, and shares the cores left over', () => {
    expect(inferenceLayout(2, 1)).toEqual({ threads: 1, intraOpThreads: 2 });
    expect(inferenceLayout(2, 2)).toEqual({ threads: 2, intraOpThreads: 1 });
    expect(inferenceLayout(2, 4)).toEqual({ threads: 2, intraOpThreads: 1 });
    expect(inferenceLayout(8, 3)).toEqual({ threads: 3, intraOpThreads: 2 });
    expect(inferenceLayout(1, 1)).toEqual({ threads: 1, intraOpThreads: 1 });
  });

  it('runs one sentence on a thread of two intra-op threads as on two threads of one', async () => {
    const pool = new InferencePool(inferenceLayout(2, 1));
    pools.push(pool);
    const wide = new PiperEngine({
      voicesDir: voicesDir(),
      phonemizer: { dir: phonemizerDir(), python: 'python3' },
      pool: () => pool,
    });
    try {
      const pcm = await wide.synthesize('One sentence, two cores.', { voice: JOE, rate: 1, pitch: 50 });
      expect(pcm.sampleRate).toBe(22_050);
      expect(seconds(pcm)).toBeGreaterThan(0.8);
    } finally {
      await wide.close();
    }
  });
});

describe('SpeechEngines', () => {
  const espeak = new EspeakNgEngine();
  const engines = new SpeechEngines([engine, espeak]);

  it('offers Piper voices first and routes each voice to its engine', async () => {
    await espeak.check();
    const voices = await engines.voices();
    expect(voices[0]!.engine).toBe('piper');
    expect(voices.some((v) => v.id === 'vi' && v.engine === 'espeak-ng')).toBe(true);
    expect((await engines.identify(JOE)).modelSha256).toMatch(/^[0-9a-f]{64}$/);
    const espeakId = await engines.identify('en-us');
    expect(espeakId.engine).toMatch(/^espeak-ng \d/);
    expect(espeakId.modelSha256).toBeNull();
    await expect(engines.sampleRate('klingon')).rejects.toThrow(EngineRejectedError);
  });

  it('picks the neural voice for English, espeak-ng for languages Piper does not speak', () => {
    const v = (id: string, engine: string, languages: string[], preferredFor: string[] = []): Voice => ({
      id,
      name: id,
      languages,
      gender: null,
      preferredFor,
      engine,
      quality: null,
      sampleRate: 22_050,
      license: null,
      pitch: engine !== 'piper',
    });
    const catalog = [
      v(JOE, 'piper', ['en-us', 'en'], ['en-us', 'en']),
      v('en-us', 'espeak-ng', ['en-us', 'en']),
      v('vi', 'espeak-ng', ['vi']),
      v('en-gb', 'espeak-ng', ['en-gb', 'en']),
    ];
    expect(preferredVoiceForLanguage(catalog, 'en-us')?.id).toBe(JOE);
    expect(preferredVoiceForLanguage(catalog, 'en')?.id).toBe(JOE);
    expect(preferredVoiceForLanguage(catalog, 'en-gb')?.id).toBe('en-gb');
    expect(preferredVoiceForLanguage(catalog, 'vi')?.id).toBe('vi');
  });
});

describe('WebVTT captions', () => {
  it('times one cue per chunk from the chunk lengths, escaping markup, skipping chunks without words', () => {
    const chunks = chunkText('Hello there. A < B & C --> D?  \n', 100, 'en', false);
    expect(chunks.map((c) => c.text)).toEqual(['Hello there. ', 'A < B & C --> D?  \n']);
    const cues = captionCues([...chunks, { index: 2, start: 0, text: '  ' }], [22_050, 33_075, 1000], 22_050);
    expect(cues).toEqual([
      { start: 0, end: 1, text: 'Hello there.' },
      { start: 1, end: 2.5, text: 'A &lt; B &amp; C --&gt; D?' },
    ]);
    expect(webVtt(cues)).toBe(
      'WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nHello there.\n\n2\n00:00:01.000 --> 00:00:02.500\nA &lt; B &amp; C --&gt; D?\n',
    );
    expect(vttTime(3723.4567)).toBe('01:02:03.457');
  });

  it('cuts one sentence per chunk when asked, still packing by default', () => {
    const text = 'One. Two. Three.';
    expect(chunkText(text, 100).map((c) => c.text)).toEqual([text]);
    expect(chunkText(text, 100, 'en', false).map((c) => c.text)).toEqual(['One. ', 'Two. ', 'Three.']);
  });
});

describe('sentenceCacheKey', () => {
  const id = { engine: 'piper 1.8.0', voice: JOE, modelSha256: 'a'.repeat(64), sentenceChunks: true };
  const key = (
    tenant: string,
    over: Partial<typeof id> = {},
    settings = { rate: 1, pitch: 50 },
    text = 'Hello there.',
  ) => sentenceCacheKey(tenant, { ...id, ...over }, settings, text);

  it('is the same for the same sentence and settings, white space aside, and differs in everything else', () => {
    expect(key('t1', {}, undefined, '  Hello\n there. ')).toBe(key('t1'));
    const others = [
      key('t2'),
      key('t1', { voice: 'other' }),
      key('t1', { modelSha256: 'b'.repeat(64) }),
      key('t1', { engine: 'piper 1.9.0' }),
      key('t1', {}, { rate: 1.5, pitch: 50 }),
      key('t1', {}, { rate: 1, pitch: 60 }),
      key('t1', {}, undefined, 'Hello there!'),
    ];
    expect(new Set([key('t1'), ...others]).size).toBe(others.length + 1);
    // Each tenant's entries live under a folder of its own.
    expect(key('t1').split('/')[1]).not.toBe(key('t2').split('/')[1]);
  });
});
