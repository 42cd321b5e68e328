/**
 * Every speech engine behind one SpeechEngine: Piper's neural voices first, then espeak-ng's. A voice
 * id belongs to one engine (Piper's are file names such as `en_us-joe-medium`, espeak-ng's language
 * tags such as `en-us`), and each call goes to the engine whose voice it names. A language is spoken
 * by a neural voice when one speaks it, else by espeak-ng (Vietnamese and its other languages).
 */
import {
  EngineRejectedError,
  voiceForLanguage,
  type Pcm,
  type SpeechEngine,
  type SynthesisOptions,
  type Voice,
  type VoiceIdentity,
} from './engine.js';

export class SpeechEngines implements SpeechEngine {
  constructor(private readonly engines: readonly SpeechEngine[]) {}

  get id(): string {
    return this.engines.map((e) => e.id).join(', ');
  }

  async check(): Promise<void> {
    for (const engine of this.engines) await engine.check();
  }

  /** Each engine's voices, in engine order; an id already taken by an earlier engine is left out. */
  async voices(): Promise<Voice[]> {
    const seen = new Set<string>();
    const out: Voice[] = [];
    for (const list of await Promise.all(this.engines.map((e) => e.voices()))) {
      for (const v of list) {
        if (seen.has(v.id)) continue;
        seen.add(v.id);
        out.push(v);
      }
    }
    return out;
  }

  private async engineOf(voice: string): Promise<SpeechEngine> {
    const id = voice.toLowerCase();
    for (const engine of this.engines) {
      if ((await engine.voices()).some((v) => v.id === id)) return engine;
    }
    throw new EngineRejectedError(`no engine on this worker has the voice "${voice}"`);
  }

  async sampleRate(voice: string): Promise<number> {
    return (await this.engineOf(voice)).sampleRate(voice);
  }

  async identify(voice: string): Promise<VoiceIdentity> {
    return (await this.engineOf(voice)).identify(voice);
  }

  async synthesize(text: string, opts: SynthesisOptions): Promise<Pcm> {
    return (await this.engineOf(opts.voice)).synthesize(text, opts);
  }
}

/** The voice for a language: a neural one when one speaks it, else any engine's. */
export function preferredVoiceForLanguage(voices: Voice[], language: string): Voice | undefined {
  return (
    voiceForLanguage(
      voices.filter((v) => v.engine === 'piper'),
      language,
    ) ?? voiceForLanguage(voices, language)
  );
}
