/** Chunking, WAV headers, the espeak-ng voice list and engine, and the POST /v1/audio schema. */
import { describe, expect, it } from 'vitest';
import { chunkText, localeOfVoice } from '../../src/audio/chunks.js';
import { voiceForLanguage } from '../../src/audio/engine.js';
import { EspeakNgEngine, parseVoiceList } from '../../src/audio/espeak-ng.js';
import { parseWav, wavHeader } from '../../src/audio/wav.js';
import { loadConfig } from '../../src/config/env.js';
import { audioKind } from '../../src/kinds/audio.js';
import { creationSchema } from '../../src/server/routes/job-kinds.js';
import { fieldErrors } from '../../src/server/http/validation.js';
import { speechText } from '../helpers/speech-text.js';

describe('chunkText', () => {
  it('packs whole sentences up to the limit and gives back exactly the text', () => {
    const text = speechText(20_000);
    const chunks = chunkText(text, 500);
    expect(chunks.map((c) => c.text).join('')).toBe(text);
    expect(chunks.every((c) => c.text.length <= 500)).toBe(true);
    chunks.forEach((c, i) => {
      expect(c.index).toBe(i);
      expect(text.slice(c.start, c.start + c.text.length)).toBe(c.text);
      // Every chunk but the last ends at a sentence end (followed by the space or break before the next).
      if (i < chunks.length - 1) expect(c.text).toMatch(/[.?]\s*$/);
    });
    // Packed: far fewer chunks than sentences.
    expect(chunks.length).toBeLessThan(20_000 / 400);
  });

  it('packs sentences while they fit, and cuts the same way every time', () => {
    const text = 'One. Two is here? Three!  Four.';
    expect(chunkText(text, 13).map((c) => c.text)).toEqual(['One. ', 'Two is here? ', 'Three!  Four.']);
    expect(chunkText(text, 13)).toEqual(chunkText(text, 13));
  });

  it('cuts a sentence longer than the limit at word boundaries, and a giant word hard', () => {
    const long = 'word '.repeat(100).trim() + '.';
    const chunks = chunkText(long, 50);
    expect(chunks.map((c) => c.text).join('')).toBe(long);
    expect(chunks.every((c) => c.text.length <= 50)).toBe(true);
    expect(chunks.slice(0, -1).every((c) => /\s$/.test(c.text))).toBe(true);
    const giant = 'x'.repeat(130);
    expect(chunkText(giant, 50).map((c) => c.text.length)).toEqual([50, 50, 30]);
    // A surrogate pair is never split.
    const emoji = '😀'.repeat(30);
    const parts = chunkText(emoji, 7).map((c) => c.text);
    expect(parts.join('')).toBe(emoji);
    expect(parts.every((p) => !/^[\udc00-\udfff]|[\ud800-\udbff]$/.test(p))).toBe(true);
  });

  it('segments other scripts and handles empty text', () => {
    const vi = 'Xin chào. Tôi là một máy nói. Hôm nay trời đẹp.';
    expect(chunkText(vi, 20, 'vi').map((c) => c.text)).toEqual([
      'Xin chào. ',
      'Tôi là một máy nói. ',
      'Hôm nay trời đẹp.',
    ]);
    expect(chunkText('', 100)).toEqual([]);
    expect(localeOfVoice('en-gb-x-rp')).toBe('en');
    expect(localeOfVoice('en_us-joe-medium')).toBe('en');
  });
});

describe('WAV', () => {
  it('writes a 44-byte PCM header that reads back', () => {
    const data = Buffer.alloc(22050 * 2, 1);
    const wav = Buffer.concat([wavHeader(22050, data.length), data]);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(parseWav(wav)).toMatchObject({
      format: 1,
      channels: 1,
      bitsPerSample: 16,
      sampleRate: 22050,
      declaredDataBytes: data.length,
    });
    expect(parseWav(wav).data.equals(data)).toBe(true);
    expect(() => wavHeader(22050, 2 ** 32)).toThrow(/4 GiB/);
    expect(() => parseWav(Buffer.from('not a wav file'))).toThrow(/RIFF/);
  });
});

describe('espeak-ng', () => {
  const engine = new EspeakNgEngine();

  it('parses the voice list, ranking the first voice for a language', () => {
    const list = parseVoiceList(
      [
        'Pty Language       Age/Gender VoiceName          File                 Other Languages',
        ' 5  de              --/M      German             gmw/de               ',
        ' 5  fr-be           --/M      French_(Belgium)   roa/fr-BE            (fr 8)',
        ' 5  fr-fr           --/F      French_(France)    roa/fr               (fr 5)',
      ].join('\n'),
    );
    const espeak = {
      engine: 'espeak-ng',
      quality: null,
      sampleRate: 22_050,
      license: 'GPL-3.0-or-later',
      pitch: true,
    };
    expect(list).toEqual([
      { id: 'de', name: 'German', languages: ['de'], gender: 'male', preferredFor: [], ...espeak },
      {
        id: 'fr-be',
        name: 'French (Belgium)',
        languages: ['fr-be', 'fr'],
        gender: 'male',
        preferredFor: [],
        ...espeak,
      },
      {
        id: 'fr-fr',
        name: 'French (France)',
        languages: ['fr-fr', 'fr'],
        gender: 'female',
        preferredFor: ['fr'],
        ...espeak,
      },
    ]);
    expect(voiceForLanguage(list, 'FR')?.id).toBe('fr-fr');
    expect(voiceForLanguage(list, 'de-AT')).toBeUndefined();
    expect(voiceForLanguage(list, 'de')?.id).toBe('de');
  });

  it('speaks 22,050 Hz PCM, identical on every run, longer for longer text', async () => {
    await engine.check();
    expect(engine.id).toMatch(/^espeak-ng \d+\.\d+/);
    const opts = { voice: 'en-us', rate: 1, pitch: 50 };
    const [a, b] = await Promise.all([
      engine.synthesize('Hello there. This is a test.', opts),
      engine.synthesize('Hello there. This is a test.', opts),
    ]);
    expect(a.sampleRate).toBe(22050);
    expect(a.samples.length % 2).toBe(0);
    expect(a.samples.equals(b.samples)).toBe(true);
    const longer = await engine.synthesize('Hello there. This is a test. '.repeat(4), opts);
    expect(longer.samples.length).toBeGreaterThan(3 * a.samples.length);
    // A faster rate says the same in less time; the text is never read as markup.
    const fast = await engine.synthesize('Hello there. This is a test.', { ...opts, rate: 2 });
    expect(fast.samples.length).toBeLessThan(a.samples.length * 0.75);
    const markup = await engine.synthesize('<break time="5s"/>', opts);
    expect(markup.samples.length / 2 / 22050).toBeLessThan(4);
  });

  it('rejects an unknown voice as the engine rejecting the input, and stops on abort', async () => {
    await expect(engine.synthesize('hi', { voice: 'xx-nope', rate: 1, pitch: 50 })).rejects.toMatchObject({
      name: 'EngineRejectedError',
    });
    const abort = new AbortController();
    const pending = engine.synthesize(speechText(50_000), {
      voice: 'en',
      rate: 1,
      pitch: 50,
      signal: abort.signal,
    });
    abort.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });

  it('refuses to start with a clear message when the binary is missing', async () => {
    await expect(new EspeakNgEngine('/nonexistent/espeak-ng').check()).rejects.toThrow(
      /espeak-ng cannot run .*apt-get install -y espeak-ng/,
    );
  });
});

describe('the POST /v1/audio body', () => {
  const schema = creationSchema(audioKind, loadConfig({ AUDIO_MAX_TEXT_CHARS: '1000' }));
  const errorsFor = (body: unknown) => {
    const r = schema.safeParse(body);
    if (r.success) throw new Error(`accepted ${JSON.stringify(body)}`);
    return fieldErrors(r.error, 'json');
  };

  it('fills in the defaults and keeps tabs and line breaks (pitch stays unset: not every voice has one)', () => {
    expect(schema.parse({ text: 'Hi.\tThere\r\nYou.' })).toEqual({
      text: 'Hi.\tThere\r\nYou.',
      rate: 1,
      format: 'mp3',
    });
  });

  it.each([
    { body: { text: 'x'.repeat(1001) }, field: 'text', reason: 'must be at most 1000 characters' },
    { body: { text: 'a\u0000b' }, field: 'text', reason: 'NUL' },
    { body: { text: 'a\u0085b' }, field: 'text', reason: 'control characters' },
    { body: { text: 'hi', format: 'MP3' }, field: 'format', reason: 'must be one of: wav, mp3, ogg' },
    { body: { text: 'hi', pitch: '50' }, field: 'pitch', reason: 'must be a number' },
    { body: { text: '?!... -- "" ()' }, field: 'text', reason: 'only punctuation' },
  ])('names $field: $reason', ({ body, field, reason }) => {
    const e = errorsFor(body).find((x) => x.field === field);
    expect(e?.reason).toContain(reason);
  });
});
