/**
 * Piper's phonemes: offload's pipeline (Piper's espeak-ng bridge in a child process, then
 * src/audio/piper/phonemes.ts and the voice's phoneme_id_map) against piper-tts 1.8.0's own
 * (`PiperVoice.phonemize` + `phonemes_to_ids`, test/helpers/piper_phoneme_ids.py) over the corpus in
 * test/fixtures/phoneme-corpus.txt. Needs `npm run setup -- --for test` (the voice, the phonemizer and
 * the piper-tts venv); fails saying so otherwise.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  hasSpeech,
  phonemeIds,
  sentencesOfClauses,
  type PhonemeIdMap,
} from '../../src/audio/piper/phonemes.js';
import { PiperPhonemizer } from '../../src/audio/piper/phonemizer.js';
import { licenseOfModelCard, parseVoiceConfig, readVoiceDir } from '../../src/audio/piper/voice-files.js';
import { JOE_VOICE, phonemizerDir, piperPython, piperReferenceReady, voicesDir } from '../../tools/piper.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CORPUS = path.join(here, '../fixtures/phoneme-corpus.txt');
const REFERENCE = path.join(here, '../helpers/piper_phoneme_ids.py');
const configFile = path.join(voicesDir(), `${JOE_VOICE}.onnx.json`);

function reference(lines: string[]): Promise<number[][][]> {
  return new Promise((resolve, reject) => {
    const child = spawn(piperPython(), [REFERENCE, configFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`the piper-tts reference exited with ${code}: ${err.slice(-1000)}`));
      else
        resolve(
          out
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as number[][]),
        );
    });
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}

describe('Piper phonemes, against piper-tts 1.8.0', () => {
  const phonemizer = new PiperPhonemizer({ dir: phonemizerDir(), python: 'python3' });
  afterAll(() => phonemizer.close());

  it('gives the same phoneme ids as piper-tts for at least 99 % of 200+ varied English sentences', async () => {
    if (!piperReferenceReady() || !existsSync(configFile)) {
      throw new Error(
        'piper-tts, the joe voice or the phonemizer is not provisioned: run `npm run setup -- --for test`',
      );
    }
    const lines = readFileSync(CORPUS, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThanOrEqual(200);
    const map = (JSON.parse(readFileSync(configFile, 'utf8')) as { phoneme_id_map: PhonemeIdMap })
      .phoneme_id_map;
    const expected = await reference(lines);
    expect(expected).toHaveLength(lines.length);
    const differences: string[] = [];
    for (const [i, line] of lines.entries()) {
      const clauses = await phonemizer.clauses('en-us', line);
      const ours = sentencesOfClauses(clauses).map((s) => phonemeIds(s, map).ids);
      if (JSON.stringify(ours) !== JSON.stringify(expected[i])) {
        differences.push(
          `${JSON.stringify(line)}\n  offload: ${JSON.stringify(ours)}\n  piper:   ${JSON.stringify(expected[i])}`,
        );
      }
    }
    const identical = lines.length - differences.length;
    console.log(
      `phoneme parity: ${identical}/${lines.length} sentences identical to piper-tts` +
        (differences.length ? `; differences:\n${differences.join('\n')}` : ''),
    );
    expect(identical / lines.length).toBeGreaterThanOrEqual(0.99);
  });

  it('reports a voice espeak-ng does not have as a refusal, and keeps working after it', async () => {
    await expect(phonemizer.clauses('no-such-voice', 'Hello.')).rejects.toThrow(/phonemizer refused/);
    const clauses = await phonemizer.clauses('en-us', 'Hello, world.');
    expect(clauses.map((c) => c.terminator)).toEqual([',', '.']);
  });
});

describe('clauses to phoneme ids (the rules of piper-tts)', () => {
  const map: PhonemeIdMap = {
    _: [0],
    '^': [1],
    $: [2],
    ' ': [3],
    ',': [8],
    '.': [10],
    '?': [13],
    a: [14],
    b: [15],
  };

  it('keeps terminators, spaces after commas, drops language flags, and groups by sentence end', () => {
    const sentences = sentencesOfClauses([
      { phonemes: 'a(en)b', terminator: ',', endOfSentence: false },
      { phonemes: 'b', terminator: '?', endOfSentence: true },
      { phonemes: 'a', terminator: '', endOfSentence: false },
    ]);
    expect(sentences).toEqual([['a', 'b', ',', ' ', 'b', '?'], ['a']]);
    expect(phonemeIds(sentences[0]!, map)).toEqual({
      ids: [1, 0, 14, 0, 15, 0, 8, 0, 3, 0, 15, 0, 13, 0, 2],
      missing: [],
    });
  });

  it('decomposes accents into code points, leaves unknown phonemes out and names them', () => {
    const [s] = sentencesOfClauses([{ phonemes: 'ã', terminator: '.', endOfSentence: true }]);
    expect(s).toEqual(['a', '\u0303', '.']);
    const r = phonemeIds(s!, map);
    expect(r.missing).toEqual(['\u0303']);
    expect(r.ids).toEqual([1, 0, 14, 0, 10, 0, 2]);
    expect(hasSpeech(r.ids, map)).toBe(true);
    expect(hasSpeech(phonemeIds([], map).ids, map)).toBe(false);
  });
});

describe('voice files', () => {
  it('reads the installed joe voice: language, quality, rate, licence', async () => {
    const voices = await readVoiceDir(voicesDir());
    const joe = voices.find((v) => v.name === JOE_VOICE);
    expect(joe).toMatchObject({
      id: 'en_us-joe-medium',
      languages: ['en-us', 'en'],
      espeakVoice: 'en-us',
      quality: 'medium',
      sampleRate: 22_050,
      license: 'CC0',
    });
  });

  it('refuses a config that is not an espeak voice, naming the file and field', () => {
    expect(() => parseVoiceConfig('x', '/v', { phoneme_type: 'pinyin' }, null)).toThrow(
      '/v/x.onnx.json: phoneme_type',
    );
    expect(() => parseVoiceConfig('x', '/v', { espeak: { voice: 'en-us' } }, null)).toThrow(
      'audio.sample_rate',
    );
    expect(licenseOfModelCard('# card\n* License: CC0\n')).toBe('CC0');
    expect(licenseOfModelCard('no licence here')).toBeNull();
  });

  it('has no voices in a folder that does not exist', async () => {
    expect(await readVoiceDir('/nonexistent/voices')).toEqual([]);
  });
});
