/**
 * The `audio` kind: speech from text as WAV, MP3 or Ogg/Opus. The voice (asked by id or by language) is
 * resolved against the engine's catalogue before the 202; GET /v1/voices lists it. The heavy activity
 * is src/activities/audio (on the `audio` queue), the workflow src/workflows/audio.ts.
 */
import { z } from '@hono/zod-openapi';
import { voiceForLanguage, type Voice } from '../audio/engine.js';
import { EspeakNgEngine } from '../audio/espeak-ng.js';
import {
  AUDIO_FORMATS,
  AUDIO_PITCH_RANGE,
  AUDIO_RATE_RANGE,
  type AudioRequest,
  type AudioResult,
  type AudioWorkflowInput,
} from '../shared/jobs.js';
import { AUDIO_QUEUE, WorkflowType } from '../shared/temporal.js';
import { problems } from '../server/http/problem.js';
import { safe } from '../server/http/safe-text.js';
import { engineUnavailable, engineVoices, registerVoiceRoutes } from '../server/routes/voices.js';
import { defineJobKind, heavyPolicy } from './kind.js';

const DEFAULT_VOICE = 'en-us';

// C0 and C1 control characters except tab, line feed and carriage return.
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
/** JSON Schema's form of the text rule: none of CONTROL_CHARS, and surrogates only in pairs (see safe-text.ts). */
const TEXT_PATTERN =
  '^(?:[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\ud800-\\udfff]|[\\ud800-\\udbff][\\udc00-\\udfff])*$';

const between = (range: { min: number; max: number }) => `must be between ${range.min} and ${range.max}`;

/** The body's own fields; the text limit comes from the config (AUDIO_MAX_TEXT_CHARS). */
function audioFields(maxChars: number) {
  return {
    text: safe(
      z
        .string()
        .min(1, 'must not be empty')
        .max(maxChars, `must be at most ${maxChars} characters`)
        .refine((t) => t.trim().length > 0, 'must contain something to say, not only spaces')
        .refine(
          (t) => !CONTROL_CHARS.test(t),
          'must not contain control characters (tabs and line breaks are fine)',
        ),
      TEXT_PATTERN,
    ).openapi({ example: 'Hello. This is offload speaking.' }),
    voice: safe(z.string().min(1).max(100))
      .optional()
      .openapi({ example: 'en-us', description: 'A voice id from GET /v1/voices.' }),
    language: z
      .string()
      .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, 'must be a language tag such as en, en-GB or vi')
      .optional()
      .openapi({ description: 'Instead of `voice`: a voice that speaks this language is chosen.' }),
    rate: z
      .number({ error: 'must be a number' })
      .min(AUDIO_RATE_RANGE.min, between(AUDIO_RATE_RANGE))
      .max(AUDIO_RATE_RANGE.max, between(AUDIO_RATE_RANGE))
      .default(1)
      .openapi({ description: 'Speaking rate, 1 = normal (about 175 words a minute).' }),
    pitch: z
      .number({ error: 'must be a number' })
      .min(AUDIO_PITCH_RANGE.min, between(AUDIO_PITCH_RANGE))
      .max(AUDIO_PITCH_RANGE.max, between(AUDIO_PITCH_RANGE))
      .default(50)
      .openapi({ description: "Pitch, 50 = the voice's normal pitch." }),
    format: z.enum(AUDIO_FORMATS, { error: `must be one of: ${AUDIO_FORMATS.join(', ')}` }).default('mp3'),
  };
}

interface AudioBody {
  text: string;
  voice?: string;
  language?: string;
  rate: number;
  pitch: number;
  format: AudioRequest['format'];
  fileName?: string;
}

export const audioKind = defineJobKind<AudioBody, AudioRequest>({
  name: 'audio',
  unit: 'characters',
  queue: AUDIO_QUEUE,
  create: {
    path: '/v1/audio',
    operationId: 'audio.create',
    tag: 'audio',
    summary: 'Start generating speech audio from text',
    schemaName: 'AudioRequest',
    fields: (config) => audioFields(config.AUDIO_MAX_TEXT_CHARS),
    refine(body, ctx) {
      if (body.voice !== undefined && body.language !== undefined)
        ctx.addIssue({ code: 'custom', path: ['language'], message: 'give voice or language, not both' });
    },
  },
  api() {
    const engine = new EspeakNgEngine();
    return {
      async prepare(body) {
        const voice = chooseVoice(await engineVoices(engine), body);
        return {
          text: body.text,
          voice: voice.id,
          rate: body.rate,
          pitch: body.pitch,
          format: body.format,
          ...(body.fileName ? { fileName: body.fileName } : {}),
        };
      },
      routes: (app) => registerVoiceRoutes(app, engine),
    };
  },
  workflow(job, start) {
    const request = job.request as AudioRequest;
    const input: AudioWorkflowInput = {
      jobId: job.id,
      userId: job.userId,
      tenantId: job.tenantId,
      request,
      chunkChars: start.config.AUDIO_CHUNK_CHARS,
      segmentChars: start.config.AUDIO_SEGMENT_CHARS,
      policy: heavyPolicy(start.config, 'AUDIO'),
      scheduling: start.scheduling,
      retentionMs: start.retentionMs,
      heavyQueue: start.queue(AUDIO_QUEUE),
    };
    return {
      type: WorkflowType.audio,
      input,
      summary: `audio ${request.text.length} characters as ${request.format} for ${job.userId}`,
    };
  },
  view: {
    request: z.object({
      voice: z.string(),
      rate: z.number(),
      pitch: z.number(),
      format: z.enum(AUDIO_FORMATS),
      fileName: z.string().optional(),
      characters: z.number().openapi({ description: 'Length of the text (the text is not repeated).' }),
    }),
    // The text is summarised by its length, not repeated.
    showRequest: ({ text, ...rest }) => ({ ...rest, characters: text.length }),
    resultFields: {
      format: z.enum(AUDIO_FORMATS).optional(),
      durationSeconds: z.number().optional().openapi({ description: 'Audio: length of the speech.' }),
      sampleRate: z.number().optional().openapi({ description: 'Audio: samples per second.' }),
      characters: z.number().optional(),
      chunks: z.number().optional(),
      engine: z.string().optional().openapi({ description: 'Audio: engine and version that spoke it.' }),
    },
    done: (result) => (result as AudioResult).characters,
  },
  // The log names the text only by its length.
  describe: ({ text, voice, format }) => ({ characters: text.length, voice, format }),
  dashboard: { title: 'New audio', submitLabel: 'Generate audio', form: 'audio' },
  worker: async () => (await import('../activities/audio/worker.js')).audioWorker,
});

/** The voice asked for by id, else one for the language, else the default; a 422 naming the field. */
function chooseVoice(catalog: Voice[], body: AudioBody): Voice {
  if (body.voice !== undefined) {
    const voice = catalog.find((v) => v.id === body.voice!.toLowerCase());
    if (voice) return voice;
    throw problems.validation([
      { field: 'voice', in: 'body', reason: 'unknown voice; GET /v1/voices lists the voices' },
    ]);
  }
  if (body.language !== undefined) {
    const voice = voiceForLanguage(catalog, body.language);
    if (voice) return voice;
    throw problems.validation([
      { field: 'language', in: 'body', reason: 'no voice speaks this language; GET /v1/voices lists them' },
    ]);
  }
  const voice = voiceForLanguage(catalog, DEFAULT_VOICE);
  if (!voice) throw engineUnavailable(new Error(`the default voice ${DEFAULT_VOICE} is missing`));
  return voice;
}
