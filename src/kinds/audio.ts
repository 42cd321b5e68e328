/**
 * The `audio` kind: speech from text as WAV, MP3 or Ogg/Opus. The voice (asked by id or by language) is
 * resolved against the engine's catalogue before the 202; GET /v1/voices lists it. The heavy activity
 * is src/activities/audio (on the `audio` queue), the workflow src/workflows/audio.ts.
 */
import { z } from '@hono/zod-openapi';
import { speechEngines } from '../audio/catalog.js';
import { voiceForLanguage, type Voice } from '../audio/engine.js';
import { preferredVoiceForLanguage } from '../audio/engines.js';
import { FORMATS } from '../audio/formats.js';
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
import { maxChars } from '../server/http/validation.js';
import { safe } from '../server/http/safe-text.js';
import { registerCaptionsRoute } from '../server/routes/captions.js';
import { engineUnavailable, engineVoices, registerVoiceRoutes } from '../server/routes/voices.js';
import { defineJobKind, heavyPolicy, type BodySchemaExtra } from './kind.js';

/** The language spoken when a request names neither voice nor language (a neural voice when there is one). */
const DEFAULT_LANGUAGE = 'en-us';
/** The pitch that means "the voice's own". */
const NORMAL_PITCH = 50;

// C0 and C1 control characters except tab, line feed and carriage return.
const CONTROL = '\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f';
// What String.prototype.trim removes: white space (Zs, tab, VT, FF, BOM) and line terminators.
const BLANK = '\\t\\n\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const CONTROL_CHARS = new RegExp(`[${CONTROL}]`);
const SPEAKABLE_CHAR = new RegExp(`[^${CONTROL}${BLANK}]`);
/** A letter or a digit: text of punctuation and symbols only has no words to speak. */
const WORD_CHAR = /[\p{L}\p{N}]/u;
/**
 * The checks of `text` as one pattern for the document (ECMA-262 with the u flag, as JSON Schema
 * reads it): no control character, and a letter or a digit somewhere, which is also something that
 * is not blank. A lone surrogate is refused too, which a pattern cannot portably say: see
 * safe-text.ts.
 */
const TEXT_PATTERN = `^[^${CONTROL}]*[\\p{L}\\p{N}][^${CONTROL}]*$`;
/** What `language` takes before the engine's catalogue is consulted. */
export const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;

const between = (range: { min: number; max: number }) => `must be between ${range.min} and ${range.max}`;

/** The body's own fields; the text limit comes from the config (AUDIO_MAX_TEXT_CHARS). */
function audioFields(maxTextChars: number) {
  return {
    text: safe(maxChars(z.string().min(1, 'must not be empty'), maxTextChars), TEXT_PATTERN)
      .refine((t) => SPEAKABLE_CHAR.test(t), 'must contain something to say, not only spaces')
      .refine(
        (t) => WORD_CHAR.test(t),
        'must contain a word to say (a letter or a digit), not only punctuation',
      )
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
      .regex(LANGUAGE_TAG, 'must be a language tag such as en, en-GB or vi')
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
      .optional()
      .openapi({
        description:
          "Pitch, 50 = the voice's normal pitch (the default). Only voices with `pitch: true` in GET /v1/voices take it (espeak-ng's, not Piper's): for the others it is 422.",
      }),
    format: z.enum(AUDIO_FORMATS, { error: `must be one of: ${AUDIO_FORMATS.join(', ')}` }).default('mp3'),
  };
}

interface AudioBody {
  text: string;
  voice?: string;
  language?: string;
  rate: number;
  pitch?: number;
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
    refineSchema: { not: { required: ['voice', 'language'] } },
    refine(body, ctx) {
      if (body.voice !== undefined && body.language !== undefined)
        ctx.addIssue({ code: 'custom', path: ['language'], message: 'give voice or language, not both' });
    },
  },
  api(deps) {
    const { config } = deps;
    const engine = speechEngines(config).all;
    return {
      async prepare(body) {
        const voice = chooseVoice(await engineVoices(engine), body);
        if (body.pitch !== undefined && !voice.pitch) {
          throw problems.validation([
            {
              field: 'pitch',
              in: 'body',
              reason: `the voice ${voice.id} (${voice.engine}) has no pitch control; leave pitch out, or choose a voice with pitch: true in GET /v1/voices`,
            },
          ]);
        }
        return {
          text: body.text,
          voice: voice.id,
          rate: body.rate,
          pitch: body.pitch ?? NORMAL_PITCH,
          format: body.format,
          ...(body.fileName ? { fileName: body.fileName } : {}),
        };
      },
      routes: (app) => {
        registerVoiceRoutes(app, engine);
        registerCaptionsRoute(app, deps);
      },
      // The voices and languages chooseVoice accepts, from the engine's catalogue, and which of them
      // take `pitch`: prepare refuses pitch for a voice without pitch control (Piper's).
      async bodySchema(): Promise<BodySchemaExtra> {
        const catalog = await engine.voices().catch(() => undefined);
        if (!catalog) return { properties: {} };
        const languages = spokenLanguages(catalog).filter((tag) => LANGUAGE_TAG.test(tag));
        return {
          properties: {
            voice: { pattern: anyCaseOf(catalog.map((v) => v.id)) },
            language: { pattern: anyCaseOf(languages) },
          },
          allOf: [pitchRule(catalog, languages)],
        };
      },
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
      voice: z.string().optional().openapi({ description: 'Audio: the voice that spoke it.' }),
      modelSha256: z
        .string()
        .nullable()
        .optional()
        .openapi({ description: "Audio: sha256 of the voice's model file (Piper voices), else null." }),
      artifacts: z
        .array(
          z.object({
            name: z.string().openapi({ example: 'captions' }),
            fileName: z.string(),
            contentType: z.string(),
            bytes: z.number().int(),
            href: z.string().openapi({ example: '/v1/jobs/job_01.../captions' }),
          }),
        )
        .optional()
        .openapi({ description: 'Audio: the files the job made (the audio and its WebVTT captions).' }),
    },
    contentTypes: Object.values(FORMATS).map((f) => f.contentType),
    done: (result) => (result as AudioResult).characters,
  },
  // The log names the text only by its length.
  describe: ({ text, voice, format }) => ({ characters: text.length, voice, format }),
  dashboard: { title: 'New audio', submitLabel: 'Generate audio', form: 'audio' },
  worker: async () => (await import('../activities/audio/worker.js')).audioWorker,
});

/** Every tag voiceForLanguage finds a voice for (lower case): ids, their prefixes, languages. */
export function spokenLanguages(catalog: Voice[]): string[] {
  const tags = new Set<string>();
  for (const v of catalog) {
    const parts = v.id.split('-');
    for (let i = 1; i <= parts.length; i++) tags.add(parts.slice(0, i).join('-'));
    for (const tag of [...v.languages, ...v.preferredFor]) tags.add(tag);
  }
  return [...tags].filter((tag) => voiceForLanguage(catalog, tag) !== undefined).sort();
}

/**
 * `pitch` as JSON Schema: allowed only when the voice chooseVoice picks has pitch control, i.e. a named
 * voice with it, a language whose preferred voice has it, or (neither named) a default voice with it.
 */
export function pitchRule(catalog: Voice[], languages: string[]): Record<string, unknown> {
  const ways: Record<string, unknown>[] = [];
  const voices = catalog.filter((v) => v.pitch).map((v) => v.id);
  if (voices.length)
    ways.push({ required: ['voice'], properties: { voice: { pattern: anyCaseOf(voices) } } });
  const pitched = languages.filter((tag) => preferredVoiceForLanguage(catalog, tag)?.pitch);
  if (pitched.length)
    ways.push({ required: ['language'], properties: { language: { pattern: anyCaseOf(pitched) } } });
  if (preferredVoiceForLanguage(catalog, DEFAULT_LANGUAGE)?.pitch)
    ways.push({ not: { anyOf: [{ required: ['voice'] }, { required: ['language'] }] } });
  if (!ways.length) return { not: { required: ['pitch'] } };
  return { if: { required: ['pitch'] }, then: { anyOf: ways } };
}

/** A pattern matching exactly these words in any letter case (`en-us`: `[eE][nN]-[uU][sS]`). */
export function anyCaseOf(words: string[]): string {
  const one = (w: string) =>
    [...w]
      .map((ch) => {
        const lower = ch.toLowerCase();
        const upper = ch.toUpperCase();
        if (lower !== upper && lower.length === 1 && upper.length === 1) return `[${lower}${upper}]`;
        return /[A-Za-z0-9_-]/.test(ch) ? ch : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
      })
      .join('');
  return `^(?:${[...new Set(words.map((w) => w.toLowerCase()))].map(one).join('|')})$`;
}

/** The voice asked for by id, else one for the language, else the default; a 422 naming the field. */
export function chooseVoice(catalog: Voice[], body: Pick<AudioBody, 'voice' | 'language'>): Voice {
  if (body.voice !== undefined) {
    const voice = catalog.find((v) => v.id === body.voice!.toLowerCase());
    if (voice) return voice;
    throw problems.validation([
      { field: 'voice', in: 'body', reason: 'unknown voice; GET /v1/voices lists the voices' },
    ]);
  }
  if (body.language !== undefined) {
    const voice = preferredVoiceForLanguage(catalog, body.language);
    if (voice) return voice;
    throw problems.validation([
      { field: 'language', in: 'body', reason: 'no voice speaks this language; GET /v1/voices lists them' },
    ]);
  }
  const voice = preferredVoiceForLanguage(catalog, DEFAULT_LANGUAGE);
  if (!voice) throw engineUnavailable(new Error(`no voice speaks the default language ${DEFAULT_LANGUAGE}`));
  return voice;
}
