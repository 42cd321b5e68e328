/**
 * The worker half of the `audio` kind (src/kinds/audio.ts): the speech activity on the `audio` queue.
 * It refuses to start unless the engine and the encoders run on this machine.
 */
import type { SpeechEngine } from '../../audio/engine.js';
import { EspeakNgEngine } from '../../audio/espeak-ng.js';
import { checkBinary } from '../../audio/formats.js';
import { ConfigError } from '../../config/env.js';
import type { KindWorker } from '../../kinds/kind.js';
import { createAudioActivities } from './synthesize-audio.js';

async function checkAudioTools(engine: SpeechEngine): Promise<void> {
  const install = 'apt-get install -y espeak-ng lame ffmpeg (or `npm run setup` as root)';
  const problems: string[] = [];
  const checks: [string, Promise<void>][] = [
    ['speech engine', engine.check()],
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
    const engine = new EspeakNgEngine();
    await checkAudioTools(engine);
    log.info({ engine: engine.id }, 'audio engine ready');
    return {
      activities: createAudioActivities(deps, { engine, parallelism: config.AUDIO_PARALLELISM }),
      concurrency: config.AUDIO_CONCURRENCY,
    };
  },
};
