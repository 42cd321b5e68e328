/**
 * The engines a process offers, built from the config: Piper's voices in VOICES_DIR first, then
 * espeak-ng's. The API gets them without an inference pool (it only lists voices); the audio worker
 * passes one.
 */
import type { Config } from '../config/env.js';
import { SpeechEngines } from './engines.js';
import { EspeakNgEngine } from './espeak-ng.js';
import { PiperEngine } from './piper/engine.js';
import type { InferencePool } from './piper/inference.js';

export interface Engines {
  all: SpeechEngines;
  piper: PiperEngine;
  espeak: EspeakNgEngine;
}

export function speechEngines(
  config: Pick<Config, 'voicesDir' | 'piperPhonemizerDir' | 'PIPER_PYTHON'>,
  pool?: () => InferencePool,
): Engines {
  const piper = new PiperEngine({
    voicesDir: config.voicesDir,
    phonemizer: { dir: config.piperPhonemizerDir, python: config.PIPER_PYTHON },
    ...(pool ? { pool } : {}),
  });
  const espeak = new EspeakNgEngine();
  return { all: new SpeechEngines([piper, espeak]), piper, espeak };
}
