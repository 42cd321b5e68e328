/**
 * The speech engine seen by the audio activity: a voice catalog and "text in, PCM out" per chunk. The
 * workflow and the chunking, storage and encoding around it do not depend on which engine this is, so
 * a hosted provider can be added as another implementation.
 */

/** A voice the engine offers. */
export interface Voice {
  /** What a request names in `voice`. */
  id: string;
  name: string;
  /** Languages (BCP 47-ish, lower case) the voice speaks, the main one first. */
  languages: string[];
  gender: string | null;
  /** Languages for which the engine picks this voice first (e.g. `fr` → `fr-fr`). */
  preferredFor: string[];
  /** The engine that speaks it: `piper` (neural) or `espeak-ng` (formant). */
  engine: string;
  /** Piper's quality tier (`x_low` … `high`); null for engines without tiers. */
  quality: string | null;
  sampleRate: number | null;
  /** The voice's licence (a Piper voice: its dataset's), when known. */
  license: string | null;
  /** Whether `pitch` can be set for this voice. */
  pitch: boolean;
}

/** What a job records about the voice that spoke it. */
export interface VoiceIdentity {
  /** Engine name and version, e.g. `espeak-ng 1.51` or `piper (onnxruntime-node 1.30.0)`. */
  engine: string;
  voice: string;
  /** sha256 of the voice's model file (Piper); null for engines without one. */
  modelSha256: string | null;
  /**
   * Whether a job with this voice is cut one sentence per chunk (Piper: one inference per sentence anyway,
   * so captions and the sentence cache get one entry per sentence) rather than packing sentences
   * (espeak-ng: one process per chunk, which per sentence would cost more than the speech).
   */
  sentenceChunks: boolean;
}

export interface SynthesisOptions {
  voice: string;
  /** Multiplier of the normal speaking rate (1 = normal). */
  rate: number;
  /** 0..100, 50 = the voice's normal pitch. */
  pitch: number;
  /** Aborting stops the engine (e.g. kills its process) and rejects. */
  signal?: AbortSignal;
}

/** Signed 16-bit little-endian mono PCM at the engine's sample rate. */
export interface Pcm {
  sampleRate: number;
  samples: Buffer;
}

export interface SpeechEngine {
  /** Name and version, recorded with each result, e.g. `espeak-ng 1.51`. */
  readonly id: string;
  /** Throws a clear error when the engine cannot run on this machine. */
  check(): Promise<void>;
  voices(): Promise<Voice[]>;
  /** The sample rate the engine speaks `voice` at (every chunk of a job must have the same). */
  sampleRate(voice: string): Promise<number>;
  /** The engine, voice and model a job with `voice` is spoken by. */
  identify(voice: string): Promise<VoiceIdentity>;
  synthesize(text: string, opts: SynthesisOptions): Promise<Pcm>;
}

/** The engine refused the input itself (not an infrastructure failure): retrying cannot help. */
export class EngineRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineRejectedError';
  }
}

/** The voice for a language tag: an exact id, then the voice listing it first, then a regional variant. */
export function voiceForLanguage(voices: Voice[], language: string): Voice | undefined {
  const tag = language.toLowerCase();
  return (
    voices.find((v) => v.id === tag) ??
    voices.find((v) => v.preferredFor.includes(tag)) ??
    voices.find((v) => v.languages[0] === tag) ??
    voices.find((v) => v.languages.includes(tag)) ??
    voices.find((v) => v.id.startsWith(`${tag}-`))
  );
}
