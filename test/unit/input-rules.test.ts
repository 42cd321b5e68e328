/**
 * The input rules of src/shared/input.ts and src/server/http/safe-text.ts, alone and in the request
 * schemas they are built into: text without NUL or lone surrogates, safe file names, real calendar
 * dates within PostgreSQL's range, and the validation hook's check of every string that passed.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { storageKey } from '../../src/activities/heavy/attempt.js';
import { loadConfig } from '../../src/config/env.js';
import { checkExportRequest } from '../../src/datasets/query.js';
import { datasets } from '../../src/datasets/registry.js';
import { audioKind } from '../../src/kinds/audio.js';
import { exportKind } from '../../src/kinds/export.js';
import {
  EARLIEST_INSTANT_MS,
  LATEST_INSTANT_MS,
  daysInMonth,
  instantProblem,
  parseTimestamp,
  textProblem,
} from '../../src/shared/input.js';
import { HttpProblem, type FieldError } from '../../src/server/http/problem.js';
import {
  FILE_NAME_PATTERN,
  SAFE_TEXT_PATTERN,
  fileName,
  fileNameProblem,
} from '../../src/server/http/safe-text.js';
import { fieldErrors, unsafeTextErrors, validationHook } from '../../src/server/http/validation.js';
import { listQuery, pageFilter } from '../../src/server/routes/job-list-query.js';
import { creationSchema } from '../../src/server/routes/job-kinds.js';

const config = loadConfig({});
const ListQuery = listQuery();
const ExportRequest = creationSchema(exportKind, config);
const AudioRequest = creationSchema(audioKind, config);
const orders = datasets().orders!;

/** Any string, with NUL and lone surrogates much more likely than fc.string() makes them. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({
    unit: fc.oneof(
      fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', '.', '/', 'a'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    ),
  }),
);

/** The reference: NUL, or a surrogate that is not part of a pair. */
function reallyUnsafe(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return true;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

function errorsOf(schema: typeof ExportRequest, body: unknown): FieldError[] {
  const r = schema.safeParse(body);
  if (r.success) return unsafeTextErrors(r.data, 'json');
  return fieldErrors(r.error, 'json');
}

describe('textProblem', () => {
  it('refuses exactly NUL and unpaired surrogates', () => {
    fc.assert(
      fc.property(hostileText, (s) => {
        expect(textProblem(s) !== undefined).toBe(reallyUnsafe(s));
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts astral characters (surrogate pairs), tabs, newlines and any other BMP character', () => {
    expect(textProblem('😀 日本 \t\n\r \uffff \ufeff')).toBeUndefined();
    expect(textProblem('a\u0000')).toMatch(/NUL/);
    expect(textProblem('\ude00\ud83d')).toMatch(/surrogate/);
  });

  it('means what SAFE_TEXT_PATTERN says, with and without the u flag, lone surrogates aside', () => {
    const plain = new RegExp(SAFE_TEXT_PATTERN);
    const unicode = new RegExp(SAFE_TEXT_PATTERN, 'u');
    fc.assert(
      fc.property(hostileText, (s) => {
        // A pattern naming surrogates is one schema tools cannot use: the document leaves them out.
        if (/[\ud800-\udfff]/.test(s)) return;
        const ok = textProblem(s) === undefined;
        expect(plain.test(s)).toBe(ok);
        expect(unicode.test(s)).toBe(ok);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('file names', () => {
  it.each([
    '.',
    '..',
    '',
    'a/b',
    '/etc/passwd',
    'a\\b',
    '..\\..\\x',
    'a\u0000b',
    'a\nb',
    'a\u0085b',
    'x\u202etxt.exe',
    'a\u2028b',
    '\ud800',
  ])('refuses %j', (name) => {
    expect(fileName().safeParse(name).success).toBe(false);
    // A lone surrogate is refused by validation only (see SAFE_TEXT_PATTERN).
    if (name !== '\ud800') expect(new RegExp(FILE_NAME_PATTERN, 'u').test(name)).toBe(false);
  });

  it.each([
    '...',
    '.hidden',
    'a..b',
    'Rapport été 2024 (final).csv',
    '日本.csv',
    '😀.mp3',
    'a b',
    "o'brien.csv",
  ])('accepts %j', (name) => {
    expect(fileName().safeParse(name).success).toBe(true);
    expect(new RegExp(FILE_NAME_PATTERN, 'u').test(name)).toBe(true);
    expect(new RegExp(FILE_NAME_PATTERN).test(name)).toBe(true);
  });

  it('FILE_NAME_PATTERN and the schema agree on any string (given its length is within bounds)', () => {
    const unicode = new RegExp(FILE_NAME_PATTERN, 'u');
    fc.assert(
      fc.property(hostileText, (s) => {
        const name = s.slice(0, 200);
        const accepted = fileName().safeParse(name).success;
        // Lone surrogates are refused by validation only (see SAFE_TEXT_PATTERN).
        if (!/[\ud800-\udfff]/.test(name)) expect(unicode.test(name), JSON.stringify(name)).toBe(accepted);
        expect(accepted).toBe(name.length > 0 && fileNameProblem(name) === undefined);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('a file name as a storage key', () => {
  it('is one segment under the job id that fits a local file name, for any name the schema takes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }),
          fc.constant('😀'.repeat(200)),
        ),
        (name) => {
          if (!fileName().safeParse(name).success) return;
          const key = storageKey('job_1', name);
          const segment = key.slice('job_1/'.length);
          expect(key.startsWith('job_1/')).toBe(true);
          expect(segment).not.toMatch(/^\.\.?$|\//);
          // LocalStorage writes `<name>.tmp-<12 hex>` first: 17 more bytes, within NAME_MAX (255).
          expect(Buffer.byteLength(segment) + 17).toBeLessThanOrEqual(255);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('parseTimestamp (export filters)', () => {
  it.each([
    ['2023-02-29', /not a date/],
    ['2023-02-30', /not a date/],
    ['2100-02-29', /not a date/],
    ['2024-04-31', /not a date/],
    ['2024-00-10', /month 00/],
    ['2024-13-01', /month 13/],
    ['2024-01-00', /not a date/],
    ['0000-01-01', /year 0/],
    ['2024-01-01T24:00', /hours/],
    ['2024-01-01T23:60', /minutes/],
    ['2024-01-01T23:59:60', /seconds/],
    ['2024-01-01T00:00+16:00', /offset/],
    ['2024-01-01T00:00-15:60', /offset/],
    ['2024-1-1', /ISO 8601/],
    ['20240101', /ISO 8601/],
    ['2024-01-01T00:00:00.1234567', /ISO 8601/],
    ['2024-01-01Z', /ISO 8601/],
    ['12024-01-01', /ISO 8601/],
    ['-2024-01-01', /ISO 8601/],
    ['２０２４-01-01', /ISO 8601/],
  ])('refuses %j', (text, reason) => {
    const t = parseTimestamp(text);
    expect(t.ok).toBe(false);
    if (!t.ok) expect(t.reason).toMatch(reason);
  });

  it.each([
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29', '2000-02-29T00:00:00.000Z'],
    ['0001-01-01', '0001-01-01T00:00:00.000Z'],
    ['0099-12-31', '0099-12-31T00:00:00.000Z'],
    ['9999-12-31T23:59:59.999999', '9999-12-31T23:59:59.999Z'],
    ['2024-01-01 10:30', '2024-01-01T10:30:00.000Z'],
    ['2024-01-01T10:30+02', '2024-01-01T08:30:00.000Z'],
    ['2024-01-01T10:30-0130', '2024-01-01T12:00:00.000Z'],
    ['2024-01-01T00:00:00+15:59', '2023-12-31T08:01:00.000Z'],
  ])('reads %j as %s', (text, iso) => {
    const t = parseTimestamp(text);
    expect(t.ok).toBe(true);
    if (t.ok) expect(new Date(Number(t.micros / 1000n)).toISOString()).toBe(iso);
  });

  it('agrees with the calendar for every generated date', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        (y, m, d) => {
          const text = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
          const real = y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
          expect(parseTimestamp(text).ok, text).toBe(real);
          if (real && y >= 1970)
            expect(Number((parseTimestamp(text) as { micros: bigint }).micros / 1000n)).toBe(
              Date.parse(text),
            );
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('orders bounds to the microsecond', () => {
    const a = parseTimestamp('2024-01-01T00:00:00.000001');
    const b = parseTimestamp('2024-01-01T00:00:00.000002');
    expect(a.ok && b.ok && a.micros < b.micros).toBe(true);
  });
});

describe('list filters (createdAfter, createdBefore)', () => {
  const filter = (q: Record<string, string>) => pageFilter(ListQuery.parse(q));

  it.each([
    '2023-02-29T00:00:00Z',
    '2023-02-30T00:00:00Z',
    '0000-06-01T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:00:00+15:00',
    '2024-01-01',
    '2024-01-01T00:00:00',
    'now',
  ])('refuses %j with one error naming the field', (value) => {
    const r = ListQuery.safeParse({ createdAfter: value });
    expect(r.success).toBe(false);
    expect(fieldErrors(r.error!, 'query').map((e) => e.field)).toEqual(['createdAfter']);
  });

  it.each([
    ['0001-01-01T00:00:00+01:00', '0001-01-01T00:00:00.000Z'],
    ['0001-01-01T00:30:00+14:59', '0001-01-01T00:00:00.000Z'],
    ['9999-12-31T23:00:00-14:00', '9999-12-31T23:59:59.999Z'],
    ['2024-02-29T12:00:00+14:00', '2024-02-28T22:00:00.000Z'],
  ])('takes %j, a real day, and compares with the nearest instant in years 0001-9999: %s', (value, iso) => {
    expect(filter({ createdAfter: value }).createdFrom!.toISOString()).toBe(iso);
    expect(filter({ createdBefore: value }).createdTo!.toISOString()).toBe(iso);
  });

  it('gives PostgreSQL only instants it reads, for any bound the document takes', () => {
    // Any instant from a day before year 1 to a day after 9999, written in any zone the document takes.
    const bound = fc
      .tuple(
        fc.date({ min: new Date(-62135683200000), max: new Date(253402387200000), noInvalidDate: true }),
        fc.integer({ min: -(14 * 60 + 59), max: 14 * 60 + 59 }),
      )
      .map(([d, offset]) => {
        const local = new Date(d.getTime() + offset * 60_000).toISOString();
        const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`;
        return `${local.slice(0, 19)}${zone}`;
      });
    fc.assert(
      fc.property(bound, (value) => {
        const r = ListQuery.safeParse({ createdAfter: value, createdBefore: value });
        if (!r.success) return;
        const f = pageFilter(r.data);
        for (const d of [f.createdFrom!, f.createdTo!]) {
          expect(d.getTime()).toBeGreaterThanOrEqual(EARLIEST_INSTANT_MS);
          expect(d.getTime()).toBeLessThanOrEqual(LATEST_INSTANT_MS);
          expect(d.toISOString()).toMatch(/^\d{4}-/);
        }
      }),
      { numRuns: 3000 },
    );
    expect(instantProblem(Number.NaN)).toBeDefined();
  });
});

describe('export filters (checkExportRequest)', () => {
  const issuesFor = (filters: Record<string, unknown>) =>
    checkExportRequest(orders, { dataset: 'orders', filters } as never);

  it('names the end of a range that is not a real date', () => {
    expect(issuesFor({ created_at: { from: '2023-02-30', to: '2023-03-01' } })).toEqual([
      { path: ['filters', 'created_at', 'from'], message: expect.any(String) as string },
    ]);
  });

  it('names each `in` value with NUL, a lone surrogate or too many characters', () => {
    const issues = issuesFor({ country: ['DE', 'F\u0000R', '\udc00', 'x'.repeat(201)] });
    expect(issues.map((i) => i.path.join('.'))).toEqual([
      'filters.country.1',
      'filters.country.2',
      'filters.country.3',
    ]);
  });

  it('takes an inverted range (it matches no rows: JSON Schema cannot compare two bounds)', () => {
    expect(issuesFor({ created_at: { from: '2024-02-01', to: '2024-01-01' } })).toEqual([]);
    expect(issuesFor({ created_at: { from: '2024-01-01T00:00:00+01:00', to: '2024-01-01' } })).toEqual([]);
    expect(issuesFor({ created_at: { from: '2024-01-01', to: '2024-01-01T00:00:00.000001' } })).toEqual([]);
  });

  it('answers any generated filter value with issues, never an exception', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('created_at', 'amount', 'status', 'country', 'nope', '\u0000'),
        fc.oneof(
          fc.jsonValue(),
          fc.record(
            { from: fc.oneof(fc.jsonValue(), hostileText), to: fc.oneof(fc.jsonValue(), hostileText) },
            { requiredKeys: [] },
          ),
          fc.array(hostileText),
        ),
        (name, value) => {
          expect(() => issuesFor({ [name]: value })).not.toThrow();
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('the creation schemas', () => {
  it.each([
    [{ dataset: 'orders', format: 'pdf', title: 'Q1\u0000' }, 'title'],
    [{ dataset: 'orders\u0000', format: 'csv' }, 'dataset'],
    [{ dataset: 'orders', format: 'csv', columns: ['id', '\ud800'] }, 'columns.1'],
    [{ dataset: 'orders', format: 'csv', sort: { column: '\u0000' } }, 'sort.column'],
    [{ dataset: 'orders', format: 'csv', callbackUrl: 'https://example.com/\u0000' }, 'callbackUrl'],
    [{ dataset: 'orders', format: 'csv', fileName: '..' }, 'fileName'],
    [{ dataset: 'orders', format: 'csv', filters: { country: ['\ud800'] } }, 'filters.country.0'],
  ])('export: %j names %s', (body, field) => {
    expect(errorsOf(ExportRequest, body).map((e) => e.field)).toContain(field);
  });

  it.each([
    [{ text: 'Hi \ud800.' }, 'text'],
    [{ text: 'Hi \u0000.' }, 'text'],
    [{ text: 'Hi.', voice: '\udfff' }, 'voice'],
    [{ text: 'Hi.', fileName: '.' }, 'fileName'],
  ])('audio: %j names %s', (body, field) => {
    expect(errorsOf(AudioRequest, body).map((e) => e.field)).toContain(field);
  });

  it('accept no string anywhere with NUL or a lone surrogate', () => {
    // Bodies that are valid but for their strings, anywhere a string can go.
    const body = fc.record(
      {
        dataset: fc.constant('orders'),
        format: fc.constantFrom('csv', 'pdf'),
        title: hostileText,
        fileName: hostileText,
        callbackUrl: hostileText.map((t) => `https://example.com/${t}`),
        filters: fc.record({ country: fc.array(hostileText, { minLength: 1, maxLength: 3 }) }),
      },
      { requiredKeys: ['dataset', 'format'] },
    );
    const strings = (v: unknown): string[] =>
      typeof v === 'string'
        ? [v]
        : v && typeof v === 'object'
          ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)])
          : [];
    fc.assert(
      fc.property(body, (b) => {
        const r = ExportRequest.safeParse(b);
        if (r.success)
          for (const s of strings(r.data)) expect(reallyUnsafe(s), JSON.stringify(s)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  /** The OpenAPI document of the two creation schemas. */
  const documentOf = () => {
    const app = new OpenAPIHono();
    app.openAPIRegistry.register('ExportRequest', ExportRequest);
    app.openAPIRegistry.register('AudioRequest', AudioRequest);
    return app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } });
  };

  it('describe the rules in the OpenAPI document as patterns', () => {
    const doc = documentOf();
    type Props = Record<string, { pattern?: string; format?: string; maxLength?: number }>;
    const props = (name: string) => (doc.components!.schemas![name] as { properties: Props }).properties;
    const exp = props('ExportRequest');
    expect(exp.fileName).toMatchObject({ pattern: FILE_NAME_PATTERN, maxLength: 200 });
    expect(exp.title).toMatchObject({ pattern: SAFE_TEXT_PATTERN, maxLength: 200 });
    expect(exp.callbackUrl).toMatchObject({ pattern: SAFE_TEXT_PATTERN, format: 'uri', maxLength: 2000 });
    expect(exp.notifyEmail).toMatchObject({ pattern: expect.any(String) as string });
    const text = props('AudioRequest').text!;
    expect(text.pattern).toBeDefined();
    const textPattern = new RegExp(text.pattern!, 'u');
    expect(textPattern.test('Hello.\n\tWorld 😀')).toBe(true);
    for (const bad of ['a\u0000', 'a\u0007', 'a\u0085', '😍', '¿?', ' \t']) {
      expect(textPattern.test(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it("the audio text's pattern and its schema agree on any string (lone surrogates aside)", () => {
    const schema = documentOf().components!.schemas!.AudioRequest as {
      properties: { text: { pattern: string } };
    };
    const pattern = new RegExp(schema.properties.text.pattern, 'u');
    const unit = fc.oneof(
      fc.constantFrom(
        'a',
        'é',
        '字',
        '٣',
        '😍',
        '→',
        '¿',
        '.',
        ' ',
        '\t',
        '\n',
        '\u00a0',
        '\u0007',
        '\u0085',
      ),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    );
    fc.assert(
      fc.property(fc.oneof(hostileText, fc.string({ unit })), (s) => {
        const text = s.slice(0, 100);
        if (/[\ud800-\udfff]/.test(text) && reallyUnsafe(text)) return;
        const accepted = AudioRequest.safeParse({ text }).success;
        expect(pattern.test(text), JSON.stringify(text)).toBe(accepted);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('validationHook', () => {
  const hook = (data: unknown, target = 'json') => {
    try {
      validationHook({ success: true, target, data });
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(HttpProblem);
      expect((err as HttpProblem).status).toBe(422);
      return (err as HttpProblem).extra.errors as FieldError[];
    }
  };

  it('names every unsafe string and object key of a part that passed its schema, at any depth', () => {
    expect(hook({ a: 'ok', b: ['x', 'y\u0000'], c: { '\ud800': 1, d: { e: '\udc00' } } })).toEqual([
      { field: 'b.1', in: 'body', reason: expect.stringMatching(/NUL/) as string },
      { field: 'c.\ud800', in: 'body', reason: expect.stringMatching(/^the name .*surrogate/) as string },
      { field: 'c.d.e', in: 'body', reason: expect.stringMatching(/surrogate/) as string },
    ]);
    expect(hook({ cursor: '\u0000' }, 'query')).toEqual([
      { field: 'cursor', in: 'query', reason: expect.any(String) as string },
    ]);
    expect(hook('\u0000', 'json')).toEqual([
      { field: '(body)', in: 'body', reason: expect.any(String) as string },
    ]);
    expect(hook({ a: 'fine', n: 1, b: true, z: null })).toEqual([]);
  });

  it('walks a structure nested 100,000 deep without recursion', () => {
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(hook({ x: deep })).toHaveLength(1);
  });

  it('names at most 20 strings', () => {
    expect(hook(Array.from({ length: 100 }, () => '\u0000'))).toHaveLength(20);
  });
});
