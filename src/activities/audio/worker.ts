/**
 * The worker half of the `audio` kind (src/kinds/audio.ts): the speech activity on the `audio` queue.
 * It refuses to start unless both engines (Piper with a voice in VOICES_DIR and its phonemizer, and
 * espeak-ng) and the encoders run on this machine, and says what to install.
 */
import { speechEngines } from '../../audio/catalog.js';
import type { SpeechEngine } from '../../audio/engine.js';
import { checkBinary } from '../../audio/formats.js';
import { InferencePool, inferenceLayout } from '../../audio/piper/inference.js';
import { ConfigError } from '../../config/env.js';
import type { KindWorker } from '../../kinds/kind.js';
import { createAudioActivities } from './synthesize-audio.js';

async function checkAudioTools(engines: Record<string, SpeechEngine>): Promise<void> {
  const install = 'apt-get install -y espeak-ng lame ffmpeg (or `npm run setup` as root)';
  const problems: string[] = [];
  const checks: [string, Promise<void>][] = [
    ...Object.entries(engines).map(([name, e]): [string, Promise<void>] => [
      `speech engine ${name}`,
      e.check(),
    ]),
    ['MP3 encoder', checkBinary('lame', ['--version'], install)],
    ['Ogg/Opus encoder', checkBinary('ffmpeg', ['-hide_banner', '-version'], install)],
  ];
  for (const [what, check] of checks) {
    try {
      await check;
    } catch (err) {
      problems.push(`--queues audio: ${what}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

export const audioWorker: KindWorker = {
  async create({ config, deps, log }) {
    const engines = speechEngines(
      config,
      () =>
        new InferencePool(
          inferenceLayout(config.PIPER_THREADS, config.AUDIO_CONCURRENCY * config.AUDIO_PARALLELISM),
        ),
    );
    await checkAudioTools({ piper: engines.piper, 'espeak-ng': engines.espeak });
    const piperVoices = (await engines.piper.voices()).map((v) => v.id);
    log.info({ engine: engines.all.id, piperVoices, voicesDir: config.voicesDir }, 'audio engines ready');
    return {
      activities: createAudioActivities(deps, {
        engine: engines.all,
        parallelism: config.AUDIO_PARALLELISM,
        sentenceCacheTtlMs: config.AUDIO_SENTENCE_CACHE_TTL_MS,
      }),
      concurrency: config.AUDIO_CONCURRENCY,
    };
  },
};
