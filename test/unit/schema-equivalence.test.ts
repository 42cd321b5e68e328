/**
 * The creation bodies' JSON Schema in /openapi.json says what their zod validation checks: for bodies
 * drawn around the boundaries (datasets, formats, columns, filters and their bounds, sort, BOM and
 * title; audio text, voice and language), the schema (validated by ajv, JSON Schema 2020-12 as OpenAPI
 * 3.1 uses) accepts exactly the bodies zod accepts. And every timestamp the pattern takes is a real day.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { datasets } from '../../src/datasets/registry.js';
import { voiceForLanguage, type Voice } from '../../src/audio/engine.js';
import {
  anyCaseOf,
  audioKind,
  chooseVoice,
  LANGUAGE_TAG,
  pitchRule,
  spokenLanguages,
} from '../../src/kinds/audio.js';
import { exportKind } from '../../src/kinds/export.js';
import type { JobKindDefinition } from '../../src/kinds/kind.js';
import { creationSchema } from '../../src/server/routes/job-kinds.js';
import { DATE_TIME_PATTERN, TIMESTAMP_PATTERN } from '../../src/shared/patterns.js';

const config = loadConfig({});

/** The kind's body as /openapi.json has it, compiled by ajv. */
function documented(kind: JobKindDefinition) {
  const app = new OpenAPIHono();
  app.openAPIRegistry.register(kind.create.schemaName, creationSchema(kind, config));
  const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } });
  const schema = doc.components!.schemas![kind.create.schemaName] as object;
  // Formats (uri, email) are not what this compares: the bodies drawn here never carry those fields.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  return ajv.compile(schema);
}

function sameVerdict(kind: JobKindDefinition, body: fc.Arbitrary<Record<string, unknown>>, runs: number) {
  const zod = creationSchema(kind, config);
  const validate = documented(kind);
  let accepted = 0;
  fc.assert(
    fc.property(body, (b) => {
      const byZod = zod.safeParse(b).success;
      const bySchema = validate(b);
      if (byZod) accepted++;
      expect(
        bySchema,
        `${JSON.stringify(b)}: zod ${byZod}, schema ${bySchema} ${JSON.stringify(validate.errors)}`,
      ).toBe(byZod);
    }),
    { numRuns: runs },
  );
  // The draw reaches both sides of the boundary.
  expect(accepted).toBeGreaterThan(runs / 50);
  expect(accepted).toBeLessThan(runs - runs / 20);
}

const allColumns = [...new Set(Object.values(datasets()).flatMap((d) => d.columns.map((c) => c.name)))];
const allFilters = [...new Set(Object.values(datasets()).flatMap((d) => d.filters.map((f) => f.name)))];

const timestampish = fc.oneof(
  fc.constantFrom(
    '2024-01-01',
    '2024-02-29',
    '2023-02-29',
    '2024-02-30',
    '2024-04-31',
    '0000-01-01',
    '2024-13-01',
    '2024-01-01T10:00',
    '2024-01-01 10:00:30.123456Z',
    '2024-01-01T10:00+05',
    '2024-01-01T10:00+05:30',
    '2024-01-01T24:00',
    'yesterday',
  ),
  fc
    .tuple(
      fc.integer({ min: 0, max: 10000 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
    )
    .map(
      ([y, m, d]) =>
        `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`,
    ),
);
const bound = fc.oneof(
  timestampish,
  fc.constantFrom(
    0,
    10,
    -5.5,
    1e15,
    -1e15,
    999999999999999,
    0.1234567,
    1e-7,
    '12.50',
    '1.1234567',
    '-3',
    'ten',
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constant(null),
);
const range = fc.oneof(
  fc.record({ from: bound, to: bound }, { requiredKeys: [] }),
  fc.record({ from: bound, extra: bound }, { requiredKeys: [] }),
);
const filterValue = fc.oneof(
  range,
  fc.array(fc.constantFrom('paid', 'shipped', 'lost', 'DE', ''), { maxLength: 3 }),
  fc.array(fc.integer(), { minLength: 1, maxLength: 2 }),
  fc.constant('paid'),
);

/** Mostly `valid`, sometimes `other`: each field near its boundary, most bodies valid. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: other, weight: 1 });

const validBound = (type: string) =>
  type === 'timestamp'
    ? fc.constantFrom('2024-01-01', '2024-02-29T10:00Z', '2023-06-30 23:59:59.5+0200')
    : fc.constantFrom(0, 10, -5.5, '12.50', '-3', 1e-7);

const exportBody = fc
  .constantFrom(...Object.values(datasets()))
  .chain((ds) =>
    fc.record(
      {
        dataset: mostly(fc.constant(ds.name), fc.constantFrom('nope', 'toString')),
        format: mostly(fc.constantFrom('csv', 'ndjson', 'xlsx', 'pdf', 'parquet'), fc.constant('xml')),
        columns: mostly(
          fc.uniqueArray(fc.constantFrom(...ds.columns.map((c) => c.name)), { minLength: 1, maxLength: 3 }),
          fc.array(fc.constantFrom(...allColumns, 'nope'), { maxLength: 3 }),
        ),
        filters: mostly(
          fc.record(
            Object.fromEntries(
              ds.filters.map((f) => [
                f.name,
                f.kind === 'in'
                  ? mostly(
                      fc.array(fc.constantFrom(...(f.values ?? ['DE', 'FR'])), {
                        minLength: 1,
                        maxLength: 2,
                      }),
                      filterValue,
                    )
                  : mostly(
                      fc.record({ from: validBound(f.type), to: validBound(f.type) }, { requiredKeys: [] }),
                      range,
                    ),
              ]),
            ),
            { requiredKeys: [] },
          ),
          fc.dictionary(fc.constantFrom(...allFilters, 'colour'), filterValue, { maxKeys: 2 }),
        ),
        sort: fc.record(
          {
            column: mostly(fc.constantFrom(...ds.key, ...ds.sorts), fc.constantFrom(...allColumns, 'nope')),
            direction: mostly(fc.constantFrom('asc', 'desc'), fc.constant('up')),
          },
          { requiredKeys: ['column'] },
        ),
        bom: fc.boolean(),
        // Lengths count code points, as JSON Schema does: 150 emoji are 300 UTF-16 units.
        title: mostly(fc.constantFrom('Orders', '😀'.repeat(150)), fc.constantFrom('', 'x'.repeat(201))),
        fileName: mostly(
          fc.constantFrom('a.csv', '😀'.repeat(200)),
          fc.constantFrom('a/b.csv', '😀'.repeat(201)),
        ),
        priority: mostly(fc.constantFrom(1, 5), fc.constantFrom(6, 2.5)),
      },
      { requiredKeys: [] },
    ),
  )
  // dataset and format are required; leave one out now and then.
  .chain((b) =>
    fc
      .constantFrom('none', 'none', 'none', 'none', 'dataset', 'format')
      .map((drop) => (drop === 'none' ? { dataset: 'orders', format: 'csv', ...b } : b)),
  );

const audioBody = fc.record(
  {
    text: mostly(
      fc.constantFrom('Hi.', ' hi ', 'Hello\nworld\t!', 'é'),
      fc.oneof(
        fc.constantFrom(
          '',
          ' ',
          '\n\t',
          '\u00a0\u3000\ufeff',
          'Hi.',
          ' hi ',
          'bell \u0007',
          'esc \u001b',
          'nel \u0085',
        ),
        fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\u2028', '\u0000', '\u009f', '\u00a0', 'é') }),
      ),
    ),
    voice: mostly(fc.constant('en-us'), fc.constantFrom('', 'x'.repeat(101))),
    language: mostly(fc.constantFrom('en', 'en-GB'), fc.constantFrom('e', 'not a tag')),
    rate: mostly(fc.constantFrom(0.5, 2.5), fc.constantFrom(3, 'fast')),
    pitch: mostly(fc.constantFrom(0, 100), fc.constant(101)),
    format: mostly(fc.constantFrom('wav', 'mp3', 'ogg'), fc.constant('flac')),
  },
  { requiredKeys: [] },
);

describe('the documented creation bodies accept what validation accepts', () => {
  it('POST /v1/exports', () => sameVerdict(exportKind, exportBody, 3000));
  it('POST /v1/audio (voice and language beyond their shape are the engine catalogue’s)', () =>
    sameVerdict(audioKind, audioBody, 2000));
});

describe('timestamp patterns', () => {
  it('take only days of the calendar, which parse as themselves', () => {
    fc.assert(
      fc.property(timestampish, (s) => {
        if (!TIMESTAMP_PATTERN.test(s)) return;
        const t = Date.parse(`${s.slice(0, 10)}T00:00:00Z`);
        expect(Number.isFinite(t), s).toBe(true);
        expect(new Date(t).toISOString().slice(0, 10)).toBe(s.slice(0, 10));
      }),
      { numRuns: 2000 },
    );
  });

  it('parse every date-time they take', () => {
    for (const s of [
      '2024-02-29T23:59:59.999999+14:59',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59-00:00',
    ]) {
      expect(DATE_TIME_PATTERN.test(s), s).toBe(true);
      expect(Number.isFinite(Date.parse(s)), s).toBe(true);
    }
    for (const s of [
      '2024-02-30T00:00:00Z',
      '2024-01-01T00:00Z',
      '2024-01-01T00:00:00+0100',
      '2024-01-01T00:00:00',
    ]) {
      expect(DATE_TIME_PATTERN.test(s), s).toBe(false);
    }
  });
});

describe("the document's voice and language patterns (from the engine's catalogue)", () => {
  const voice = (id: string, languages: string[], preferredFor: string[] = []): Voice => ({
    id,
    name: id,
    languages,
    gender: null,
    preferredFor,
    engine: 'espeak-ng',
    quality: null,
    sampleRate: 22_050,
    license: null,
    pitch: true,
  });
  const catalog = [
    voice('en-us', ['en-us', 'en']),
    voice('en-gb-scotland', ['en-gb-scotland', 'en']),
    voice('fr-fr', ['fr-fr', 'fr'], ['fr']),
    voice('vi', ['vi']),
    voice('cmn', ['cmn', 'zh-cmn', 'zh']),
  ];
  const tag = fc
    .array(
      fc.constantFrom(
        'en',
        'EN',
        'us',
        'US',
        'gb',
        'scotland',
        'Fr',
        'fr',
        'vi',
        'VN',
        'zh',
        'cmn',
        'x',
        'de',
      ),
      {
        minLength: 1,
        maxLength: 3,
      },
    )
    .map((parts) => parts.join('-'));

  it('language: matches exactly the tags chooseVoice finds a voice for, in any letter case', () => {
    const pattern = new RegExp(anyCaseOf(spokenLanguages(catalog).filter((t) => LANGUAGE_TAG.test(t))));
    fc.assert(
      fc.property(tag, (t) => {
        const accepted = LANGUAGE_TAG.test(t) && voiceForLanguage(catalog, t) !== undefined;
        expect(pattern.test(t), t).toBe(accepted);
      }),
      { numRuns: 3000 },
    );
  });

  it('voice: matches exactly the ids, in any letter case', () => {
    const pattern = new RegExp(anyCaseOf(catalog.map((v) => v.id)));
    for (const id of ['en-us', 'EN-US', 'En-Gb-Scotland', 'vi', 'cmn'])
      expect(pattern.test(id), id).toBe(true);
    for (const id of ['en', 'en-usx', 'xen-us', 'fr', 'en-us\n']) expect(pattern.test(id), id).toBe(false);
  });

  it('pitch: allowed exactly when the voice chosen has pitch control (a Piper voice has none)', () => {
    const piper: Voice = { ...voice('en_us-joe-medium', ['en-us', 'en']), engine: 'piper', pitch: false };
    const mixed = [piper, ...catalog];
    const languages = spokenLanguages(mixed).filter((t) => LANGUAGE_TAG.test(t));
    const validate = new Ajv2020({ strict: false }).compile({
      properties: {
        voice: { type: 'string', pattern: anyCaseOf(mixed.map((v) => v.id)) },
        language: { type: 'string', pattern: anyCaseOf(languages) },
      },
      not: { required: ['voice', 'language'] },
      allOf: [pitchRule(mixed, languages)],
    });
    const body = fc.record(
      {
        voice: fc.constantFrom('en_us-joe-medium', 'EN_US-Joe-medium', 'en-us', 'fr-fr', 'vi'),
        language: fc.constantFrom('en', 'en-us', 'EN-US', 'en-gb-scotland', 'fr', 'vi', 'zh'),
        pitch: fc.constantFrom(0, 50, 100),
      },
      { requiredKeys: [] },
    );
    let refused = 0;
    fc.assert(
      fc.property(body, (b) => {
        if (b.voice !== undefined && b.language !== undefined) return;
        const accepted = b.pitch === undefined || chooseVoice(mixed, b).pitch;
        if (!accepted) refused++;
        expect(validate(b), JSON.stringify(b)).toBe(accepted);
      }),
      { numRuns: 1000 },
    );
    // Pitch with no voice named: the default (Piper) has none.
    expect(validate({ pitch: 60 })).toBe(false);
    expect(refused).toBeGreaterThan(0);
  });
});
