/**
 * The Piper engine: neural voices from VOICES_DIR (./voice-files.ts), phonemes from Piper's own
 * phonemizer (./phonemizer.ts, a child process), inference in a pool of threads (./inference.ts).
 * A chunk is cut into espeak-ng's sentences; each sentence is one inference (as piper-tts does), run
 * side by side on the pool, and the chunk's samples are the sentences' in order. Piper samples noise,
 * so the same chunk is not the same samples twice: the stored chunk is the truth on resume.
 * Listing voices reads only the `.onnx.json` files, so the API can list them without ONNX Runtime.
 */
import {
  EngineRejectedError,
  type Pcm,
  type SpeechEngine,
  type SynthesisOptions,
  type Voice,
  type VoiceIdentity,
} from '../engine.js';
import type { InferencePool } from './inference.js';
import { hasSpeech, phonemeIds, sentencesOfClauses } from './phonemes.js';
import { missingPhonemizerFiles, PiperPhonemizer, type PhonemizerFiles } from './phonemizer.js';
import { modelSha256, readVoiceDir, type PiperVoiceFile } from './voice-files.js';

export const ONNXRUNTIME_NODE_VERSION = '1.30.0';
/** The piper-tts release whose phonemizer and voices this engine follows. */
export const PIPER_TTS_VERSION = '1.8.0';

/** A voice folder is read again after this long, so voices added to VOICES_DIR appear without a restart. */
const CATALOG_TTL_MS = 5_000;
/** The pitch that means "the voice's own" (see AUDIO_PITCH_RANGE). */
const NORMAL_PITCH = 50;

export interface PiperEngineOptions {
  voicesDir: string;
  phonemizer: PhonemizerFiles;
  /** Creates the inference pool on first synthesis (the API never does). */
  pool?: () => InferencePool;
}

export function piperVoice(file: PiperVoiceFile): Voice {
  return {
    id: file.id,
    name: `${file.name} (Piper, neural)`,
    languages: file.languages,
    gender: null,
    preferredFor: file.languages,
    engine: 'piper',
    quality: file.quality,
    sampleRate: file.sampleRate,
    license: file.license,
    pitch: false,
  };
}

export class PiperEngine implements SpeechEngine {
  readonly id = `piper ${PIPER_TTS_VERSION} (onnxruntime-node ${ONNXRUNTIME_NODE_VERSION})`;
  private catalog: { at: number; files: Promise<PiperVoiceFile[]> } | undefined;
  private phonemizer: PiperPhonemizer | undefined;
  private pool: InferencePool | undefined;

  constructor(private readonly opts: PiperEngineOptions) {}

  /** The voice files in VOICES_DIR (re-read every few seconds). */
  files(): Promise<PiperVoiceFile[]> {
    if (!this.catalog || Date.now() - this.catalog.at > CATALOG_TTL_MS) {
      const files = readVoiceDir(this.opts.voicesDir);
      files.catch(() => (this.catalog = undefined));
      this.catalog = { at: Date.now(), files };
    }
    return this.catalog.files;
  }

  async voices(): Promise<Voice[]> {
    return (await this.files()).map(piperVoice);
  }

  private async file(voice: string): Promise<PiperVoiceFile> {
    const file = (await this.files()).find((f) => f.id === voice.toLowerCase());
    if (!file) throw new EngineRejectedError(`there is no Piper voice "${voice}" in ${this.opts.voicesDir}`);
    return file;
  }

  /** Throws, saying what to install, unless a voice, the phonemizer and ONNX Runtime all work here. */
  async check(): Promise<void> {
    const problems: string[] = [];
    const missing = missingPhonemizerFiles(this.opts.phonemizer);
    if (missing.length > 0) problems.push(`Piper's phonemizer is missing (${missing.join(', ')})`);
    let files: PiperVoiceFile[] = [];
    try {
      files = await this.files();
      if (files.length === 0)
        problems.push(`VOICES_DIR (${this.opts.voicesDir}) holds no Piper voice (.onnx + .onnx.json)`);
    } catch (err) {
      problems.push(`VOICES_DIR (${this.opts.voicesDir}) cannot be read: ${(err as Error).message}`);
    }
    if (problems.length > 0) {
      throw new Error(
        `${problems.join('; ')}. Install them: \`npm run setup\` puts the en_US-joe-medium voice into VOICES_DIR ` +
          `and piper-tts ${PIPER_TTS_VERSION}'s phonemizer into PIPER_PHONEMIZER_DIR (or copy a voice's .onnx and .onnx.json there)`,
      );
    }
    // One real sentence per voice: phonemizer, model and ONNX Runtime all run, or the worker does not start.
    for (const file of files) {
      try {
        await this.synthesize('Ready.', { voice: file.id, rate: 1, pitch: NORMAL_PITCH });
      } catch (err) {
        throw new Error(`the Piper voice ${file.name} does not speak: ${(err as Error).message}`);
      }
    }
  }

  async sampleRate(voice: string): Promise<number> {
    return (await this.file(voice)).sampleRate;
  }

  async identify(voice: string): Promise<VoiceIdentity> {
    const file = await this.file(voice);
    return {
      engine: this.id,
      voice: file.id,
      modelSha256: await modelSha256(file.modelPath),
      sentenceChunks: true,
    };
  }

  /** Phoneme ids per sentence of `text`, and the phonemes the voice's map lacks. */
  async phonemeIds(
    voice: PiperVoiceFile,
    text: string,
  ): Promise<{ sentences: number[][]; missing: string[] }> {
    this.phonemizer ??= new PiperPhonemizer(this.opts.phonemizer);
    const clauses = await this.phonemizer.clauses(voice.espeakVoice, text);
    const missing: string[] = [];
    const sentences: number[][] = [];
    for (const phonemes of sentencesOfClauses(clauses)) {
      const r = phonemeIds(phonemes, voice.phonemeIdMap);
      missing.push(...r.missing);
      if (hasSpeech(r.ids, voice.phonemeIdMap)) sentences.push(r.ids);
    }
    return { sentences, missing };
  }

  async synthesize(text: string, opts: SynthesisOptions): Promise<Pcm> {
    const voice = await this.file(opts.voice);
    if (Math.round(opts.pitch) !== NORMAL_PITCH) {
      throw new EngineRejectedError(`the voice ${voice.id} has no pitch control`);
    }
    const { sentences, missing } = await this.phonemeIds(voice, text);
    if (sentences.length === 0) {
      const which =
        missing.length > 0 ? ` (phonemes it has no sound for: ${[...new Set(missing)].join(' ')})` : '';
      throw new EngineRejectedError(`the voice ${voice.id} finds nothing to say in this text${which}`);
    }
    if (!this.opts.pool) throw new Error('this Piper engine has no inference pool (it only lists voices)');
    this.pool ??= this.opts.pool();
    const pool = this.pool;
    const lengthScale = voice.lengthScale / opts.rate;
    const pieces = await Promise.all(
      sentences.map((ids) =>
        pool.run(
          {
            modelPath: voice.modelPath,
            ids,
            noiseScale: voice.noiseScale,
            lengthScale,
            noiseW: voice.noiseW,
          },
          opts.signal,
        ),
      ),
    );
    return { sampleRate: voice.sampleRate, samples: Buffer.concat(pieces) };
  }

  async close(): Promise<void> {
    this.phonemizer?.close();
    await this.pool?.close();
  }
}
