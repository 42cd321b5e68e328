/** GET /v1/voices: the voices of the speech engines (Piper's from VOICES_DIR, then espeak-ng's) (a route of the `audio` kind, src/kinds/audio.ts). */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { SpeechEngine, Voice } from '../../audio/engine.js';
import type { AppEnv } from '../http/context.js';
import { HttpProblem, problemResponses } from '../http/problem.js';

const VoiceSchema = z
  .object({
    id: z.string().openapi({ example: 'en-us' }),
    name: z.string().openapi({ example: 'English (America)' }),
    languages: z.array(z.string()),
    gender: z.string().nullable(),
    preferredFor: z
      .array(z.string())
      .openapi({ description: 'Languages for which this voice is chosen first.' }),
    engine: z
      .string()
      .openapi({ example: 'piper', description: '`piper` (neural) or `espeak-ng` (formant).' }),
    quality: z.string().nullable().openapi({ example: 'medium', description: "Piper's quality tier." }),
    sampleRate: z.number().int().nullable().openapi({ example: 22050 }),
    license: z
      .string()
      .nullable()
      .openapi({ example: 'CC0', description: "The voice's licence (a Piper voice: its dataset's)." }),
    pitch: z.boolean().openapi({ description: 'Whether POST /v1/audio takes `pitch` with this voice.' }),
  })
  .openapi('Voice');

const listVoices = createRoute({
  method: 'get',
  path: '/v1/voices',
  operationId: 'voices.list',
  tags: ['audio'],
  summary: 'The voices the speech engines offer',
  security: [{ bearer: [] }],
  responses: {
    200: {
      description: 'Voices; use an `id` as `voice` in POST /v1/audio',
      content: {
        'application/json': { schema: z.object({ engine: z.string(), voices: z.array(VoiceSchema) }) },
      },
    },
    ...problemResponses(401, 503),
  },
});

export function engineUnavailable(err: unknown): HttpProblem {
  return new HttpProblem(
    503,
    'engine-unavailable',
    'The speech engine is not available',
    `the API cannot list the engine's voices: ${(err as Error).message}`,
  );
}

/** The engine's voices, or a 503 problem when the engine cannot list them. */
export async function engineVoices(engine: SpeechEngine): Promise<Voice[]> {
  try {
    return await engine.voices();
  } catch (err) {
    throw engineUnavailable(err);
  }
}

export function registerVoiceRoutes(app: OpenAPIHono<AppEnv>, engine: SpeechEngine): void {
  app.openapi(listVoices, async (c) =>
    c.json({ engine: engine.id, voices: await engineVoices(engine) }, 200),
  );
}
