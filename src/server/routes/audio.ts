/**
 * POST /v1/audio: validate the text and voice, record the job, start its workflow, answer 202 at once.
 * GET /v1/voices: the voices of the speech engine.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { EspeakNgEngine } from '../../audio/espeak-ng.js';
import { voiceForLanguage, type SpeechEngine, type Voice } from '../../audio/engine.js';
import type { AudioRequest } from '../../shared/jobs.js';
import { workflowIdForJob } from '../../shared/temporal.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../env.js';
import { createIdempotently } from '../idempotency.js';
import type { JobStarter } from '../job-starter.js';
import { jobView, progressFromRow } from '../job-view.js';
import { admitHeavyJob } from '../limits.js';
import { splitNotify } from '../notify-fields.js';
import { HttpProblem, problems } from '../problem.js';
import { audioRequestSchema, jobCreation, problemResponses } from '../schemas.js';

const DEFAULT_VOICE = 'en-us';

const VoiceSchema = z
  .object({
    id: z.string().openapi({ example: 'en-us' }),
    name: z.string().openapi({ example: 'English (America)' }),
    languages: z.array(z.string()),
    gender: z.string().nullable(),
    preferredFor: z
      .array(z.string())
      .openapi({ description: 'Languages for which this voice is chosen first.' }),
  })
  .openapi('Voice');

const listVoices = createRoute({
  method: 'get',
  path: '/v1/voices',
  operationId: 'voices.list',
  tags: ['audio'],
  summary: 'The voices the speech engine offers',
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

function engineUnavailable(err: unknown): HttpProblem {
  return new HttpProblem(
    503,
    'engine-unavailable',
    'The speech engine is not available',
    `the API cannot list the engine's voices: ${(err as Error).message}`,
  );
}

export function registerAudioRoutes(
  app: OpenAPIHono<AppEnv>,
  deps: AppDeps,
  starter: JobStarter,
  engine: SpeechEngine = new EspeakNgEngine(),
): void {
  const schema = audioRequestSchema(deps.config.AUDIO_MAX_TEXT_CHARS);
  const createAudio = createRoute({
    method: 'post',
    path: '/v1/audio',
    operationId: 'audio.create',
    tags: ['audio'],
    summary: 'Start generating speech audio from text',
    security: [{ bearer: [] }],
    ...jobCreation(schema),
  });

  const voices = async (): Promise<Voice[]> => {
    try {
      return await engine.voices();
    } catch (err) {
      throw engineUnavailable(err);
    }
  };

  app.openapi(listVoices, async (c) => {
    const list = await voices();
    return c.json({ engine: engine.id, voices: list }, 200);
  });

  app.openapi(createAudio, async (c) => {
    const principal = c.get('principal');
    const body = c.req.valid('json');
    const catalog = await voices();
    let voice: Voice | undefined;
    if (body.voice !== undefined) {
      voice = catalog.find((v) => v.id === body.voice!.toLowerCase());
      if (!voice) {
        throw problems.validation([
          { field: 'voice', in: 'body', reason: 'unknown voice; GET /v1/voices lists the voices' },
        ]);
      }
    } else if (body.language !== undefined) {
      voice = voiceForLanguage(catalog, body.language);
      if (!voice) {
        throw problems.validation([
          {
            field: 'language',
            in: 'body',
            reason: 'no voice speaks this language; GET /v1/voices lists them',
          },
        ]);
      }
    } else {
      voice = voiceForLanguage(catalog, DEFAULT_VOICE);
      if (!voice) throw engineUnavailable(new Error(`the default voice ${DEFAULT_VOICE} is missing`));
    }
    const { request: fields, notify } = splitNotify(body);
    const request: AudioRequest = {
      text: fields.text,
      voice: voice.id,
      rate: fields.rate,
      pitch: fields.pitch,
      format: fields.format,
      ...(fields.fileName ? { fileName: fields.fileName } : {}),
    };
    const { job, replayed } = await createIdempotently(c, deps.database.db, 'audio.create', body, (id) =>
      admitHeavyJob(deps.database.db, deps.config, principal, {
        id,
        kind: 'audio',
        request,
        notify,
        priority: fields.priority,
        workflowId: workflowIdForJob(id),
      }),
    );
    const id = job.id;
    if (replayed) {
      c.header('location', `/v1/jobs/${id}`);
      c.header('idempotent-replayed', 'true');
      return c.json(jobView(job, progressFromRow(job)), 200);
    }
    const log = deps.log.child({ jobId: id, workflowId: job.workflowId, userId: principal.userId });
    await starter.startBounded(job, log, () =>
      log.info(
        { characters: request.text.length, voice: request.voice, format: request.format },
        'audio accepted',
      ),
    );
    c.header('location', `/v1/jobs/${id}`);
    return c.json(jobView(job, progressFromRow(job)), 202);
  });
}
