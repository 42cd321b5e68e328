/**
 * POST /v1/audio: validate the text and voice, record the job, answer 202 at once.
 * GET /v1/voices: the voices of the speech engine.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { EspeakNgEngine } from '../../audio/espeak-ng.js';
import { voiceForLanguage, type SpeechEngine, type Voice } from '../../audio/engine.js';
import { AUDIO_FORMATS, AUDIO_PITCH_RANGE, AUDIO_RATE_RANGE, type AudioRequest } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { HttpProblem, problemResponses, problems } from '../http/problem.js';
import { createJob } from '../jobs/create-job.js';
import type { JobStarter } from '../jobs/job-starter.js';
import { jobView, progressFromRow } from '../jobs/job-view.js';
import { notifyFields, splitNotify } from '../jobs/notify-fields.js';
import { fileNameField, jobCreation, priorityField } from './job-schemas.js';

const DEFAULT_VOICE = 'en-us';

// C0 and C1 control characters except tab, line feed and carriage return.
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** The body of POST /v1/audio; the text limit comes from the config (AUDIO_MAX_TEXT_CHARS). */
export function audioRequestSchema(maxChars: number) {
  return z
    .strictObject({
      text: z
        .string()
        .min(1, 'must not be empty')
        .max(maxChars, `must be at most ${maxChars} characters`)
        .refine((t) => t.trim().length > 0, 'must contain something to say, not only spaces')
        .refine(
          (t) => !CONTROL_CHARS.test(t),
          'must not contain control characters (tabs and line breaks are fine)',
        )
        .openapi({ example: 'Hello. This is offload speaking.' }),
      voice: z
        .string()
        .min(1)
        .max(100)
        .optional()
        .openapi({ example: 'en-us', description: 'A voice id from GET /v1/voices.' }),
      language: z
        .string()
        .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, 'must be a language tag such as en, en-GB or vi')
        .optional()
        .openapi({ description: 'Instead of `voice`: a voice that speaks this language is chosen.' }),
      rate: z
        .number({ error: 'must be a number' })
        .min(AUDIO_RATE_RANGE.min, `must be between ${AUDIO_RATE_RANGE.min} and ${AUDIO_RATE_RANGE.max}`)
        .max(AUDIO_RATE_RANGE.max, `must be between ${AUDIO_RATE_RANGE.min} and ${AUDIO_RATE_RANGE.max}`)
        .default(1)
        .openapi({ description: 'Speaking rate, 1 = normal (about 175 words a minute).' }),
      pitch: z
        .number({ error: 'must be a number' })
        .min(AUDIO_PITCH_RANGE.min, `must be between ${AUDIO_PITCH_RANGE.min} and ${AUDIO_PITCH_RANGE.max}`)
        .max(AUDIO_PITCH_RANGE.max, `must be between ${AUDIO_PITCH_RANGE.min} and ${AUDIO_PITCH_RANGE.max}`)
        .default(50)
        .openapi({ description: "Pitch, 50 = the voice's normal pitch." }),
      format: z.enum(AUDIO_FORMATS, { error: `must be one of: ${AUDIO_FORMATS.join(', ')}` }).default('mp3'),
      fileName: fileNameField,
      ...notifyFields,
      priority: priorityField,
    })
    .refine((b) => b.voice === undefined || b.language === undefined, {
      message: 'give voice or language, not both',
      path: ['language'],
    })
    .openapi('AudioRequest');
}

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
    const { job, replayed } = await createJob(c, deps, starter, {
      principal,
      kind: 'audio',
      request,
      notify,
      priority: fields.priority,
      idempotency: { scope: 'audio.create', key: c.req.valid('header')['idempotency-key'], body },
    });
    const view = jobView(job, progressFromRow(job));
    return replayed ? c.json(view, 200) : c.json(view, 202);
  });
}
