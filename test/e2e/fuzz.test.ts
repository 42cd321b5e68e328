/**
 * A property-based suite (fast-check) over every route of the app: the operations come from the app's
 * own /openapi.json (so a new route is covered without touching this file), plus the app's routes the
 * document leaves out (health, metrics, the dashboard and its assets). Each request is generated from
 * its operation's schemas (parameters and body: enums, formats, bounds, examples, defaults, and values
 * the API itself lists: job ids, datasets, columns, voices, a signed link, whole valid bodies), then,
 * two times in three, one part of it (a path or query parameter, a header, the body) is corrupted:
 * a string infected with NUL, a lone surrogate, a control or bidi character, `.`/`..`, a path, a date
 * that does not exist or that PostgreSQL cannot read, far too long; or replaced by a huge or NaN-ish
 * number, deep nesting, an unknown field, a wrong type. Besides: path tricks (`../`, `%2e%2e`, `%00`,
 * double encoding), malformed percent-encoding, malformed JSON, other content types, bodies over the
 * limit, no or a bad API key. A quarter of the runners send only bodies that are valid but for one
 * infected string, at a leaf chosen evenly, where a missing check deep in a body would show; another
 * quarter, requests whose path and query parameters are all given and valid but one.
 *
 * The properties: no 5xx, ever; every 4xx is application/problem+json with its status in the body;
 * nothing hangs; and no job that was accepted with 202 holds a request its activity would refuse
 * (nothing accepted now fails later). At least 10,000 requests per run (FUZZ_REQUESTS), sent by
 * FUZZ_LANES concurrent fast-check runners; FUZZ_SEED replays a run (the seed is printed).
 */
import { Readable } from 'node:stream';
import { eq, inArray } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/activities/heavy/attempt.js';
import { chunkText } from '../../src/audio/chunks.js';
import { checkExportRequest } from '../../src/datasets/query.js';
import { getDataset } from '../../src/datasets/registry.js';
import { jobs } from '../../src/db/schema.js';
import { sharedSecret } from '../../src/db/secrets-repo.js';
import { newJobId } from '../../src/lib/ids.js';
import { DOWNLOAD_SECRET, signedDownloadPath } from '../../src/lib/signed-links.js';
import { fileNameProblem } from '../../src/server/http/safe-text.js';
import type { AudioRequest, AudioResult, ExportRequest } from '../../src/shared/jobs.js';
import { textProblem } from '../../src/shared/input.js';
import { createStorage } from '../../src/storage/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

const TOTAL_REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 12_000);
const LANES = Number(process.env.FUZZ_LANES ?? 16);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const BODY_LIMIT = 256 * 1024;
/** Node refuses request heads over 16 KiB before the app (a 431 tested in api-hardening): stay well below. */
const MAX_URL_CHARS = 6000;
const MAX_HEADER_CHARS = 2000;

// --- the document ------------------------------------------------------------------------------

interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  default?: unknown;
  example?: unknown;
  examples?: unknown[];
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, unknown>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

/** One route to drive: from the document, or one of the app's routes the document leaves out. */
interface Target {
  name: string;
  method: string;
  /** `/v1/jobs/{id}` style. */
  path: string;
  op: Operation;
  /** Declares a 2xx or 3xx other than 101, so a run should see one. */
  reachable: boolean;
}

/** A piece of JSON text put into a body as is: deep nesting, 1e400, NaN, duplicate keys. */
class Raw {
  constructor(readonly text: string) {}
}

function toJson(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : toJson(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const parts = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

// --- hostile values ----------------------------------------------------------------------------

const nested = (depth: number, open: string, close: string, inner = '1') =>
  new Raw(open.repeat(depth) + inner + close.repeat(depth));

const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udc00',
    '\ud83d',
    '\udfff\ud800',
    '',
    ' ',
    '.',
    '..',
    '../',
    '../../etc/passwd',
    '..\\..\\windows',
    '%2e%2e%2f',
    '%00',
    '%252e',
    '\u202egpj.exe',
    '\r\nX-Injected: 1',
    'NaN',
    'Infinity',
    '-Infinity',
    '-0',
    '1e309',
    '0x1F',
    '1_000',
    ' 42 ',
    'null',
    'true',
    '[]',
    '{}',
    '__proto__',
    'constructor',
    'toString',
    "' or '1'='1",
    '"; drop table jobs; --',
    '<script>alert(1)</script>',
    '${jndi:ldap://x}',
    '2023-02-30',
    '2023-02-29T00:00:00Z',
    '0000-01-01',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59-15:00',
    '+010000-01-01T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-13-01',
    'job_',
    'job_00000000000000000000000000',
    'job_zzzzzzzzzzzzzzzzzzzzzzzzzz',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom(
      '\u0000',
      '\ud800',
      '\udfff',
      '\u0085',
      '\u2028',
      '\ufeff',
      'a',
      '/',
      '\\',
      '.',
      '%',
    ),
    maxLength: 20,
  }),
  fc.integer({ min: 201, max: 5000 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom(300_000, 100_000).map((n) => 'é'.repeat(n)),
);

const hostileNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    -0,
    0.5,
    1e308,
    -1e308,
    5e-324,
    2 ** 31,
    2 ** 53 + 2,
    -(2 ** 63),
    Number.MAX_SAFE_INTEGER,
  ),
  fc
    .constantFrom('1e400', '-1e400', 'NaN', 'Infinity', '1.0e+2', '00012', '-', '1e', '.5')
    .map((t) => new Raw(t)),
  fc.double(),
  fc.integer(),
);

const hostileStructure: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 50, max: 40_000 }).map((d) => nested(d, '[', ']')),
  fc.integer({ min: 50, max: 20_000 }).map((d) => nested(d, '{"a":', '}')),
  fc.constant(new Raw('{"a":1,"a":2,"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}')),
  fc.constant(new Raw(`[${'0,'.repeat(20_000)}0]`)),
  fc.constant(new Raw(`{${Array.from({ length: 2000 }, (_, i) => `"k${i}":${i}`).join(',')}}`)),
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(null, true, false, [], {}, [null], { '': '' }),
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(hostileString, hostileNumber, hostileStructure);

const hostileKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    '',
    '\u0000',
    '\ud800',
    'a.b',
    '0',
    'x'.repeat(3000),
  ),
  fc.string({ maxLength: 12 }),
);

// --- generation from schemas --------------------------------------------------------------------

/** Values the API itself lists, by field or parameter name: they let requests get past validation. */
const known = new Map<string, unknown[]>();
const knownFor = (name: string | undefined) => (name ? (known.get(name) ?? []) : []);

let components: Record<string, Schema> = {};

function resolve(s: Schema | undefined): Schema {
  let out = s ?? {};
  for (let i = 0; out.$ref && i < 10; i++)
    out = components[out.$ref.replace('#/components/schemas/', '')] ?? {};
  return out;
}

const wellFormedText = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      { weight: 10, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.constantFrom('é', 'ß', '日', '本', '😀', '\t', '\n', '\u00a0') },
    ),
    maxLength,
  });

function patternArbitrary(pattern: string): fc.Arbitrary<string> | undefined {
  // The text patterns of safe-text.ts (no NUL) are what wellFormedText makes, without the lone
  // surrogates the pattern cannot name; others (a language tag) fast-check can generate from.
  if (pattern.includes('\\u0000') || pattern.includes('\\ud800')) return undefined;
  try {
    return fc.stringMatching(new RegExp(pattern));
  } catch {
    return undefined;
  }
}

function stringArbitrary(s: Schema, name?: string): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = Math.min(s.maxLength ?? 60, 60);
  const base: fc.Arbitrary<string> =
    s.format === 'date-time'
      ? fc.oneof(
          fc
            .date({
              min: new Date('1990-01-01T00:00:00Z'),
              max: new Date('2040-01-01T00:00:00Z'),
              noInvalidDate: true,
            })
            .map((d) => d.toISOString()),
          // The edges of the range, which the corruptions step just past.
          fc.constantFrom('0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '2024-02-29T12:00:00+14:00'),
        )
      : s.format === 'uri'
        ? fc.oneof(fc.constantFrom('https://hooks.example.com/offload', 'http://127.0.0.1:9/x'), fc.webUrl())
        : s.format === 'email'
          ? fc.emailAddress()
          : ((s.pattern ? patternArbitrary(s.pattern) : undefined) ??
            wellFormedText(Math.max(max, min)).filter((x) => x.length >= min));
  const hints = [...knownFor(name), s.example, s.default, ...(s.examples ?? [])].filter(
    (x): x is string => typeof x === 'string',
  );
  return hints.length > 0
    ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...hints) }, { weight: 1, arbitrary: base })
    : base;
}

function fromSchema(raw: Schema | undefined, name?: string, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(raw);
  const hints = knownFor(name).filter((x) => typeof x !== 'string');
  if (hints.length > 0) return fc.oneof(fc.constantFrom(...hints), fromSchemaOnly(s, name, depth));
  return fromSchemaOnly(s, name, depth);
}

function fromSchemaOnly(s: Schema, name: string | undefined, depth: number): fc.Arbitrary<unknown> {
  if (depth > 6) return fc.constant(null);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives && alternatives.length > 0)
    return fc.oneof(...alternatives.map((a) => fromSchema(a, name, depth + 1)));
  if (s.allOf && s.allOf.length > 0) return fromSchema(s.allOf[0], name, depth + 1);
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum && s.enum.length > 0) return fc.constantFrom(...s.enum);
  if (Array.isArray(s.type))
    return fc.oneof(...s.type.map((t) => fromSchemaOnly({ ...s, type: t }, name, depth)));
  switch (s.type) {
    case 'string':
      return stringArbitrary(s, name);
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1000, max: s.maximum ?? 1000 });
    case 'number':
      return fc.double({
        min: s.minimum ?? -1000,
        max: s.maximum ?? 1000,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(fromSchema(s.items, name, depth + 1), {
        minLength: s.minItems ?? 0,
        maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 4, 4)),
      });
    case 'object':
    case undefined: {
      if (s.type === undefined && !s.properties && s.additionalProperties === undefined)
        return fc.jsonValue({ maxDepth: 3 });
      const props = s.properties ?? {};
      // An optional field is left out three times in four, so that most bodies stay valid enough to
      // get past validation into the handler.
      const required = new Set(s.required ?? []);
      const record = fc.record(
        Object.fromEntries(
          Object.entries(props).map(([k, v]) => {
            const value = fromSchema(v, k, depth + 1);
            return [
              k,
              required.has(k) ? value : fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, value),
            ];
          }),
        ),
      );
      if (s.additionalProperties && typeof s.additionalProperties === 'object') {
        const extra = fc.dictionary(
          fc.oneof(
            fc.constantFrom(...knownFor(`${name}.keys`).map(String), 'x'),
            fc.string({ maxLength: 10 }),
          ),
          fromSchema(s.additionalProperties, `${name}.value`, depth + 1),
          { maxKeys: 4 },
        );
        return fc.tuple(record, extra).map(([a, b]) => ({ ...b, ...a }));
      }
      return record;
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

// --- corruption --------------------------------------------------------------------------------

type Mutation = 'infect' | 'replace' | 'add-key' | 'drop' | 'wrap' | 'retype';

/**
 * What `infect` does to a valid string, one class of trouble each, chosen evenly: a character inserted
 * (NUL, a lone high or low surrogate, a reversed pair, a C0 or C1 control, a bidi override or line
 * separator, a separator), or the whole replaced (a dot name, a path, nothing, only spaces, far too long).
 */
const INFECTIONS: ((s: string, at: number) => string)[] = [
  (s, at) => s.slice(0, at) + '\u0000' + s.slice(at),
  (s, at) => s.slice(0, at) + '\ud800' + s.slice(at),
  (s, at) => s.slice(0, at) + '\udfff' + s.slice(at),
  (s, at) => s.slice(0, at) + '\ude00\ud83d' + s.slice(at),
  (s, at) => s.slice(0, at) + (at % 2 ? '\u0007' : '\u0085') + s.slice(at),
  (s, at) => s.slice(0, at) + (at % 2 ? '\u202e' : '\u2028') + s.slice(at),
  (s, at) => s.slice(0, at) + ['/', '\\', '\r\n', '%00'][at % 4]! + s.slice(at),
  (_s, at) => ['.', '..'][at % 2]!,
  (_s, at) => ['../x', '..\\x', '%2e%2e%2fx', '/etc/passwd'][at % 4]!,
  (_s, at) => ['', ' ', '\t\n '][at % 3]!,
  (s) => (s || 'x').repeat(Math.ceil(100_001 / Math.max(s.length, 1))).slice(0, 100_001),
];
/** What `infect` turns a date into: dates that do not exist or that PostgreSQL cannot read. */
const BAD_DATES = [
  '2023-02-29',
  '2023-02-30',
  '2024-04-31',
  '0000-01-01',
  '2024-01-01T24:00',
  '2024-01-01T23:59:60',
  '2024-01-01T00:00:00+16:00',
  '0001-01-01T00:00:00+01:00',
  '0001-01-01T00:30:00+00:45',
  '9999-12-31T23:59:59-14:00',
  '9999-12-31T20:00:00-05:00',
  '+010000-01-01T00:00:00Z',
  '2024-13-01T00:00:00Z',
];
const DATE_LIKE = /^\d{4}-\d{2}-\d{2}/;

/** Paths to every node of a plain JSON-like value, the root first, and which of them are leaves. */
function paths(
  v: unknown,
  at: (string | number)[] = [],
  out: { path: (string | number)[]; leaf: boolean }[] = [],
): { path: (string | number)[]; leaf: boolean }[] {
  const container = v !== null && typeof v === 'object' && !(v instanceof Raw);
  out.push({ path: at, leaf: !container });
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (container) for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** A valid string with one hostile piece in it: a NUL, a lone surrogate, a control character, a bad date. */
/** `pick` (uniform) chooses independently whether a date goes bad, which infection, and where. */
function infect(node: string, pick: number): string {
  if (DATE_LIKE.test(node) && pick % 2 === 0) return BAD_DATES[(pick >> 1) % BAD_DATES.length]!;
  const kind = Math.floor(pick / 2) % INFECTIONS.length;
  const at = Math.floor(pick / 2 / INFECTIONS.length) % (node.length + 1);
  return INFECTIONS[kind]!(node, at);
}

function mutate(value: unknown, how: Mutation, pick: number, hostile: unknown, key: string): unknown {
  const root: { v: unknown } = { v: structuredClone(value) };
  const all = paths(root.v);
  // Mostly a leaf: a string or number of an otherwise valid request is where checks are missed.
  const leaves = all.filter((p) => p.leaf);
  const pool = how === 'infect' && leaves.length > 0 ? leaves : all;
  const path = pool[pick % pool.length]!.path;
  let parent: Record<string | number, unknown> = root;
  let slot: string | number = 'v';
  for (const p of path) {
    parent = parent[slot] as Record<string | number, unknown>;
    slot = p;
  }
  const node = parent[slot];
  switch (how) {
    case 'infect':
      parent[slot] =
        typeof node === 'string'
          ? infect(node, Math.floor(pick / pool.length))
          : typeof node === 'number'
            ? hostile
            : node;
      break;
    case 'replace':
      parent[slot] = hostile;
      break;
    case 'add-key':
      if (node !== null && typeof node === 'object' && !Array.isArray(node))
        (node as Record<string, unknown>)[key] = hostile;
      else parent[slot] = hostile;
      break;
    case 'drop':
      if (Array.isArray(parent)) parent.splice(Number(slot), 1);
      else delete parent[slot];
      break;
    case 'wrap':
      parent[slot] = pick % 2 === 0 ? [node] : { value: node };
      break;
    case 'retype':
      parent[slot] =
        typeof node === 'string'
          ? Number(node) || node.length
          : typeof node === 'number'
            ? String(node)
            : node === null
              ? 0
              : null;
      break;
  }
  return root.v;
}

// --- requests ----------------------------------------------------------------------------------

interface FuzzRequest {
  target: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * A parameter's value as text: a list comma-separated (OpenAPI's form style without explode, as the
 * document declares its list parameters), anything else as JSON.
 */
const paramText = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : v instanceof Raw
      ? v.text
      : Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)
        ? v.map(String).join(',')
        : toJson(v);

/** A header value fetch can send: latin1, no CR, LF or NUL. */
const headerSafe = (s: string) => s.slice(0, MAX_HEADER_CHARS).replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');

/** A lone surrogate as the bytes it would take in CESU-8: `%ED%A0%80`, which is not UTF-8 at all. */
const cesu8 = (c: string) => {
  const u = c.charCodeAt(0);
  return [0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f)]
    .map((b) => `%${b.toString(16).toUpperCase()}`)
    .join('');
};

/** encodeURIComponent, which throws on a lone surrogate; here it becomes cesu8() instead. */
const encodeAny = (s: string) =>
  s
    .split(/([\ud800-\udfff])/u)
    .map((part, i) => (i % 2 === 1 ? cesu8(part) : encodeURIComponent(part)))
    .join('');

type PathEncoding = 'encode' | 'raw' | 'double' | 'dots';
const pathEncodingArb = fc.constantFrom<PathEncoding>(
  'encode',
  'encode',
  'encode',
  'encode',
  'raw',
  'double',
  'dots',
);

/** A path parameter as it goes into the URL: encoded, raw (dot segments and all), or tricked. */
function encodePath(v: unknown, how: PathEncoding): string {
  const s = (typeof v === 'string' ? v : v instanceof Raw ? v.text : toJson(v)).slice(0, 1000);
  if (how === 'raw') return s.replace(/[?#]/g, '');
  if (how === 'double') return encodeURIComponent(encodeAny(s));
  if (how === 'dots') return `%2e%2e%2f${encodeAny(s)}`;
  return encodeAny(s);
}

const authArb = fc.constantFrom(
  'user',
  'user',
  'user',
  'user',
  'user',
  'user',
  'admin',
  'admin',
  'none',
  'garbage',
);

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/merge-patch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  '',
];

interface Body {
  text?: string;
  type?: string;
}

/**
 * The body: from the operation's schema (valid; requestArbitrary may corrupt it), or a hostile whole, or
 * text that is not JSON, or the schema's body under another content type, too large, empty or absent.
 */
function bodyArbitrary(target: Target): fc.Arbitrary<Body & { value?: unknown }> {
  const json = target.op.requestBody?.content?.['application/json']?.schema;
  const schemaBody: fc.Arbitrary<Body & { value?: unknown }> = json
    ? fromSchema(json, `body ${target.name}`).map((value) => ({ value, type: 'application/json' }))
    : fc.constant({});
  return fc.oneof(
    { weight: 12, arbitrary: schemaBody },
    { weight: 2, arbitrary: hostileValue.map((v) => ({ text: toJson(v), type: 'application/json' })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.oneof(
            fc.constantFrom(
              '{"dataset":',
              '{',
              '[',
              '{"a":1,}',
              "{'a':1}",
              '\ufeff{}',
              'null null',
              '{"a":"\\ud800"}',
              '{"a":"\\u0000"}',
              '"\\x"',
            ),
            fc.string({ maxLength: 50 }),
          ),
          fc.constantFrom(...CONTENT_TYPES),
        )
        .map(([text, type]) => ({ text, type })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(schemaBody, fc.constantFrom(...CONTENT_TYPES.slice(3)))
        .map(([b, type]) => ({ text: b.value === undefined ? '{}' : toJson(b.value), type })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(BODY_LIMIT + 1, 2 * BODY_LIMIT)
        .map((n) => ({ text: `{"text":"${'a'.repeat(n)}"}`, type: 'application/json' })),
    },
    { weight: 1, arbitrary: fc.constant({ text: '', type: 'application/json' }) },
    { weight: 1, arbitrary: fc.constant({}) },
  );
}

/** One to three mutations, mostly infections, for one part of a request. */
const mutationsArb = fc.array(
  fc.tuple(
    fc.constantFrom<Mutation>(
      'infect',
      'infect',
      'infect',
      'infect',
      'infect',
      'replace',
      'add-key',
      'drop',
      'wrap',
      'retype',
    ),
    // Unbiased: fast-check favours small numbers, which would pick the first leaf and the first infection.
    fc.noBias(fc.nat()),
    fc.oneof(hostileValue, hostileNumber),
    hostileKey,
  ),
  { minLength: 1, maxLength: 3 },
);

/**
 * A request of `target`: every part generated valid from its schema, then (two times in three) one part
 * corrupted: a path parameter, a query parameter, a header or the body. One part at a time, so that the
 * rest of the request is valid and the corrupted value is what the API has to deal with.
 */
function requestArbitrary(target: Target, keys: Record<string, string>): fc.Arbitrary<FuzzRequest> {
  const params = target.op.parameters ?? [];
  const pathParams = [...target.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const pathArb = fc.tuple(
    ...pathParams.map((p) =>
      fc.tuple(
        fc.oneof(
          {
            weight: 5,
            arbitrary: fromSchema(params.find((x) => x.name === p && x.in === 'path')?.schema, p),
          },
          { weight: 1, arbitrary: hostileString },
        ),
        pathEncodingArb,
      ),
    ),
  );
  const queryParams = params.filter((p) => p.in === 'query');
  const queryArb = fc.record(
    Object.fromEntries(queryParams.map((p) => [p.name, fromSchema(p.schema, p.name)])),
    { requiredKeys: [] },
  );
  const extraQueryArb = fc.tuple(
    fc.dictionary(hostileKey, fc.oneof(hostileString, fc.string()), { maxKeys: 2 }),
    fc.option(
      fc.constantFrom('%', '%zz', '%E0%A4%A', '%ED%A0%80', '%00', 'a=1&a=2', '&&&', '=', 'limit=1&limit=x'),
      { nil: undefined },
    ),
  );
  const headerParams = params.filter((p) => p.in === 'header');
  const headerArb = fc.record(
    Object.fromEntries(headerParams.map((p) => [p.name, fromSchema(p.schema, p.name)])),
    { requiredKeys: [] },
  );
  const hasBody = target.method !== 'GET' && target.method !== 'HEAD';
  const bodyArb = hasBody ? bodyArbitrary(target) : fc.constant<Body & { value?: unknown }>({});
  const corruptionArb = fc.option(fc.tuple(fc.noBias(fc.nat()), mutationsArb), { freq: 3 });
  return fc
    .tuple(pathArb, queryArb, extraQueryArb, headerArb, bodyArb, authArb, corruptionArb)
    .map(([pathValues, query, [extra, rawQuery], h, body, auth, corruption]) => {
      const q: Record<string, unknown> = { ...query };
      const hv: Record<string, unknown> = { ...h };
      const pv = pathValues.map(([v, how]) => ({ v, how }));
      let bodyValue = body.value;
      if (corruption) {
        // The parts there are to corrupt: each path parameter, each query parameter and header the
        // operation declares (present or not), and the body when it came from the schema.
        const [pick, mutations] = corruption;
        const parts: ((f: (v: unknown) => unknown) => void)[] = [
          ...pv.map((p) => (f: (v: unknown) => unknown) => void (p.v = f(p.v))),
          ...queryParams.map((p) => (f: (v: unknown) => unknown) => void (q[p.name] = f(q[p.name] ?? ''))),
          ...headerParams.map((p) => (f: (v: unknown) => unknown) => void (hv[p.name] = f(hv[p.name] ?? ''))),
          ...(bodyValue !== undefined
            ? [(f: (v: unknown) => unknown) => void (bodyValue = f(bodyValue))]
            : []),
        ];
        const part = parts[pick % Math.max(parts.length, 1)];
        part?.((v) =>
          mutations.reduce((acc, [how, n, hostile, key]) => mutate(acc, how, n, hostile, key), v),
        );
      }
      let i = 0;
      const path = target.path.replace(/\{(\w+)\}/g, () => {
        const p = pv[i++]!;
        return encodePath(p.v, p.how);
      });
      const search = new URLSearchParams();
      for (const [k, v] of Object.entries({ ...extra, ...q })) {
        if (v === undefined) continue;
        search.append(k, paramText(v).slice(0, 500));
      }
      let qs = search.toString();
      if (rawQuery) qs = qs ? `${qs}&${rawQuery}` : rawQuery;
      const url = `${path}${qs ? `?${qs}` : ''}`.slice(0, MAX_URL_CHARS);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(hv)) {
        if (v === undefined) continue;
        headers[k] = headerSafe(typeof v === 'string' ? v : v instanceof Raw ? v.text : toJson(v));
      }
      if (auth === 'user') headers.authorization = `Bearer ${keys.user}`;
      if (auth === 'admin') headers.authorization = `Bearer ${keys.admin}`;
      if (auth === 'garbage') headers.authorization = `Bearer ${headerSafe(keys.user!.slice(0, 20))}x`;
      if (body.type) headers['content-type'] = body.type;
      const text = bodyValue !== undefined ? toJson(bodyValue) : body.text;
      return {
        target: target.name,
        method: target.method,
        url,
        headers,
        ...(text !== undefined ? { body: text } : {}),
      };
    });
}

/**
 * A body route's request whose body is valid but for one infected string (a NUL, a lone surrogate, a
 * control character, `..`, a date that does not exist...), at a leaf chosen evenly: the requests that
 * find a check missing somewhere deep in a body, which would be 202 and fail later, or 500.
 */
function oneBadFieldArbitrary(target: Target, keys: Record<string, string>): fc.Arbitrary<FuzzRequest> {
  const json = target.op.requestBody?.content?.['application/json']?.schema;
  const params = target.op.parameters ?? [];
  const pathParams = [...target.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  return fc
    .tuple(
      fromSchema(json, `body ${target.name}`),
      fc.array(fc.noBias(fc.nat()), { minLength: 1, maxLength: 2 }),
      fc.tuple(
        ...pathParams.map((p) => fromSchema(params.find((x) => x.name === p && x.in === 'path')?.schema, p)),
      ),
    )
    .map(([value, picks, pathValues]) => {
      const body = picks.reduce((v, pick) => mutate(v, 'infect', pick, null, ''), value);
      let i = 0;
      return {
        target: target.name,
        method: target.method,
        url: target.path.replace(/\{(\w+)\}/g, () => encodePath(pathValues[i++], 'encode')),
        headers: { authorization: `Bearer ${keys.user}`, 'content-type': 'application/json' },
        body: toJson(body),
      };
    });
}

/**
 * A request with path or query parameters, all of them given and valid but one, which is infected as
 * oneBadFieldArbitrary infects a body's string (a bad date for a date): the requests that find a check
 * missing on a parameter, where a value goes on to PostgreSQL or into a file name.
 */
function oneBadParamArbitrary(target: Target, keys: Record<string, string>): fc.Arbitrary<FuzzRequest> {
  const params = (target.op.parameters ?? []).filter((p) => p.in === 'path' || p.in === 'query');
  return fc
    .tuple(
      fc.tuple(...params.map((p) => fromSchema(p.schema, p.name))),
      fc.noBias(fc.nat()),
      fc.noBias(fc.nat()),
      fc.constantFrom(keys.user!, keys.admin!),
    )
    .map(([values, which, pick, key]) => {
      const bad = which % params.length;
      const value = (i: number) => {
        const s = paramText(values[i]);
        return i === bad ? infect(s, pick) : s;
      };
      const search = new URLSearchParams();
      params.forEach((p, i) => {
        if (p.in === 'query') search.append(p.name, value(i));
      });
      const path = target.path.replace(/\{(\w+)\}/g, (_m, name: string) =>
        encodePath(value(params.findIndex((p) => p.in === 'path' && p.name === name)), 'encode'),
      );
      const qs = search.toString();
      return {
        target: target.name,
        method: target.method,
        url: `${path}${qs ? `?${qs}` : ''}`.slice(0, MAX_URL_CHARS),
        headers: { authorization: `Bearer ${key}` },
      };
    });
}

/**
 * Which known values reach a route's handler: `good <name>` for the GET routes (a job with a file), and
 * for the two job actions the jobs they act on (`queued id`: the one job still active, which a first
 * cancel answers 202; `failed id`: the jobs a redrive takes). Other routes have none.
 */
function handlerKnowns(t: Target): string | undefined {
  if (t.method === 'GET') return 'good';
  if (t.method === 'POST' && t.path.endsWith('/cancel')) return 'queued';
  if (t.method === 'POST' && t.path.endsWith('/retry')) return 'failed';
  return undefined;
}

/**
 * The fast-check examples every run starts with: each route with path parameters that has known values
 * reaching its handler (handlerKnowns), once for each combination of them, with the user's key and
 * nothing corrupted. The random requests around them may or may not draw such a combination; these
 * make sure every such route is driven into its handler in every run, not by luck.
 */
function handlerExamples(targets: Target[], key: string): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  for (const t of targets) {
    const names = [...t.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const prefix = handlerKnowns(t);
    if (!prefix || !names.length || names.some((n) => !known.has(`${prefix} ${n}`))) continue;
    let paths = [t.path];
    for (const n of names)
      paths = paths.flatMap((p) =>
        knownFor(`${prefix} ${n}`).map((v) => p.replace(`{${n}}`, encodeURIComponent(String(v)))),
      );
    for (const url of paths)
      out.push({ target: t.name, method: t.method, url, headers: { authorization: `Bearer ${key}` } });
  }
  return out;
}

// --- the stack and what the API lists ------------------------------------------------------------

let stack: Stack;
let doc: Doc;
const keys: Record<string, string> = {};
const userIds: string[] = [];

async function call(path: string, init: RequestInit & { key?: string } = {}) {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${init.key ?? keys.user}`,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

beforeAll(async () => {
  stack = await startStack({
    queues: [],
    env: {
      // Limits stay on, but high enough that they do not hide the routes behind 429 or 503.
      RATE_LIMIT_PER_SEC: '100000',
      RATE_LIMIT_BURST: '100000',
      USER_MAX_ACTIVE_JOBS: '1000000',
      HEAVY_BACKLOG_MAX: '1000000',
      USER_HIGHEST_PRIORITY: '1',
      STREAMS_PER_KEY_MAX: '10000',
      API_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      // The body limit must hold the longest audio text (3 bytes a character and 4 KiB).
      AUDIO_MAX_TEXT_CHARS: String(Math.floor((BODY_LIMIT - 4096) / 3)),
      LOG_LEVEL: 'error',
    },
  });
  const user = await stack.newUser('t-fuzz');
  const admin = await stack.newUser('t-fuzz', 'admin');
  const other = await stack.newUser('t-fuzz-other');
  Object.assign(keys, { user: user.key, admin: admin.key, other: other.key });
  userIds.push(user.userId, admin.userId, other.userId);
  doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as Doc;
  components = doc.components?.schemas ?? {};

  // Jobs in every state the {id} routes care about: queued, succeeded with a file, failed, another user's.
  const made = [];
  for (const format of ['csv', 'pdf', 'xlsx', 'ndjson']) {
    made.push(
      await call('/v1/exports', { method: 'POST', body: JSON.stringify({ dataset: 'orders', format }) }),
    );
  }
  const theirs = await call('/v1/exports', {
    method: 'POST',
    key: keys.other,
    body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
  });
  const [succeeded, failed, failed2] = made.map((j) => String(j.id));
  const storage = createStorage(stack.config);
  const content = Buffer.from('id,amount\n1,2.50\n');
  const key = storageKey(succeeded!, 'orders.csv');
  const file = await storage.writeObject(key, Readable.from([content]));
  const result = {
    storageKey: key,
    fileName: 'orders.csv',
    contentType: 'text/csv',
    bytes: file.bytes,
    sha256: file.sha256,
    rows: 1,
  };
  const db = stack.database.db;
  await db
    .update(jobs)
    .set({
      state: 'succeeded',
      result,
      finishedAt: new Date(),
      // Its one listed part is the whole file, as GET /v1/jobs/{id}/parts/{index} serves it.
      checkpoint: {
        partsDone: 1,
        cursor: null,
        rowsDone: 1,
        total: 1,
        parts: [{ rows: 1, bytes: file.bytes, sha256: file.sha256 }],
        partsPrefix: '',
      },
    })
    .where(eq(jobs.id, succeeded!));
  await db
    .update(jobs)
    .set({
      state: 'failed',
      finishedAt: new Date(),
      error: { type: 'Test', message: 'failed for the fuzz suite', attempts: 1 },
    })
    .where(inArray(jobs.id, [failed!, failed2!]));
  // A succeeded audio job with its captions, the one job GET /v1/jobs/{id}/captions answers 2xx for.
  const spoken = String(
    (await call('/v1/audio', { method: 'POST', body: JSON.stringify({ text: 'Hi.', format: 'wav' }) })).id,
  );
  const audioKey = storageKey(spoken, 'speech.wav');
  const audio = await storage.writeObject(audioKey, Readable.from([Buffer.from('RIFF fuzz')]));
  const vtt = await storage.writeObject(
    `${audioKey}.vtt`,
    Readable.from([Buffer.from('WEBVTT\n\n00:00.000 --> 00:00.500\nHi.\n')]),
  );
  const audioResult: AudioResult = {
    storageKey: audioKey,
    fileName: 'speech.wav',
    contentType: 'audio/wav',
    bytes: audio.bytes,
    sha256: audio.sha256,
    format: 'wav',
    durationSeconds: 0.5,
    sampleRate: 22_050,
    characters: 3,
    chunks: 1,
    engine: 'fuzz',
    captionsKey: `${audioKey}.vtt`,
    artifacts: [
      {
        name: 'captions',
        fileName: 'speech.vtt',
        contentType: 'text/vtt',
        bytes: vtt.bytes,
        href: `/v1/jobs/${spoken}/captions`,
      },
    ],
  };
  await db
    .update(jobs)
    .set({
      state: 'succeeded',
      finishedAt: new Date(),
      result: audioResult,
    })
    .where(eq(jobs.id, spoken));
  const secret = await sharedSecret(stack.database.db, DOWNLOAD_SECRET);
  const link = new URL(
    signedDownloadPath(secret, succeeded!, Math.floor(Date.now() / 1000) + 3600),
    'http://x',
  );
  const page = await call('/v1/jobs?limit=1');
  const datasets = (await call('/v1/datasets')).items as {
    name: string;
    columns: { name: string }[];
    filters: { name: string; kind: string; type: string; values?: string[] }[];
    sorts: string[];
  }[];
  const voices = ((await call('/v1/voices')).voices as { id: string }[]).slice(0, 5).map((v) => v.id);

  // The succeeded export three times over and the audio job twice: they are the jobs whose routes answer
  // 2xx (download, parts, captions), so the random requests reach those handlers often (handlerExamples
  // makes sure they do in every run).
  const jobIds = [
    ...made.map((j) => String(j.id)),
    succeeded!,
    succeeded!,
    spoken,
    spoken,
    String(theirs.id),
    newJobId(),
  ];
  const filterNames = datasets.flatMap((d) => d.filters.map((f) => f.name));
  const inValues = datasets.flatMap((d) => d.filters.flatMap((f) => f.values ?? []));
  known.set('id', jobIds);
  known.set('index', ['0', '0', '1']);
  known.set('good id', [succeeded!, spoken]);
  known.set('queued id', [String(made[3]!.id)]);
  known.set('failed id', [failed!, failed2!]);
  known.set('good index', ['0']);
  known.set('expires', [link.searchParams.get('expires')!]);
  known.set('signature', [link.searchParams.get('signature')!]);
  known.set('cursor', [String(page.nextCursor)]);
  known.set('if-none-match', [`"${file.sha256}"`, '*']);
  known.set('if-range', [`"${file.sha256}"`]);
  known.set('range', ['bytes=0-4', 'bytes=-3', 'bytes=5-', 'bytes=99999-', 'bytes=3-1', 'bytes=0-0,2-3']);
  known.set('idempotency-key', ['fuzz-1', 'fuzz-2']);
  known.set('kind', ['export', 'audio', 'export,audio']);
  known.set('state', ['queued', 'failed,cancelled', 'succeeded']);
  known.set(
    'dataset',
    datasets.map((d) => d.name),
  );
  known.set('columns', [...new Set(datasets.flatMap((d) => d.columns.map((c) => c.name)))]);
  known.set('column', [...new Set(datasets.flatMap((d) => d.sorts))]);
  known.set('voice', voices);
  known.set('language', ['en', 'fr', 'de', 'vi']);
  known.set('webhookUrl', ['https://hooks.example.com/offload', 'http://10.0.0.1/x']);
  known.set('callbackUrl', ['https://hooks.example.com/offload']);
  known.set('fileName', ['orders.csv', 'Rapport été.xlsx', '日本 😀.txt', '...', '😀'.repeat(200)]);
  known.set('notifyEmail', ['ada@example.com']);
  known.set('filters.keys', filterNames);
  known.set('filters.value', [
    { from: '2024-01-01', to: '2024-02-01' },
    { from: '2024-01-01T00:00:00+02:00' },
    { from: 10, to: 500 },
    { from: '10.5' },
    inValues.slice(0, 3),
    ['DE', 'FR'],
  ]);
  // Whole bodies that pass, one per dataset and kind, built from what the API lists: the corruptions
  // then hit one field of a request that is otherwise accepted.
  const filterValue = (f: (typeof datasets)[number]['filters'][number]) =>
    f.kind === 'in'
      ? [f.values?.[0] ?? 'DE']
      : f.type === 'timestamp'
        ? { from: '2024-01-01', to: '2024-02-01T12:30:00+01:00' }
        : { from: 10, to: '500.5' };
  known.set(
    'body POST /v1/exports',
    datasets.flatMap((d) =>
      ['csv', 'pdf'].map((format) => ({
        dataset: d.name,
        format,
        columns: d.columns.slice(0, 3).map((c) => c.name),
        filters: Object.fromEntries(d.filters.map((f) => [f.name, filterValue(f)])),
        sort: { column: d.sorts[1] ?? d.sorts[0], direction: 'desc' },
        fileName: `${d.name}.${format}`,
        ...(format === 'pdf' ? { title: d.name } : {}),
        callbackUrl: 'https://hooks.example.com/offload',
      })),
    ),
  );
  // The estimate takes the body of POST /v1/exports.
  known.set('body POST /v1/exports/estimate', known.get('body POST /v1/exports')!);
  known.set('body POST /v1/audio', [
    { text: 'Hello. This is offload speaking.', voice: voices[0], fileName: 'hello.mp3' },
    { text: 'Bonjour.', language: 'fr', format: 'wav', rate: 1.5, pitch: 40 },
  ]);
});

afterAll(async () => {
  await stack?.stop();
});

// --- the properties ----------------------------------------------------------------------------

describe('every route, from its own schemas and hostile values', () => {
  it(
    `answers ${TOTAL_REQUESTS} generated requests without a 5xx, every 4xx as problem+json`,
    async () => {
      const targets: Target[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, op]) => ({
          name: `${method.toUpperCase()} ${path}`,
          method: method.toUpperCase(),
          path,
          op,
          reachable: Object.keys(op.responses ?? {}).some((s) => /^[23]\d\d$/.test(s) && s !== '101'),
        })),
      );
      // The app's routes the document leaves out (health, metrics, the dashboard and its assets).
      const declared = new Set(targets.map((t) => `${t.method} ${t.path.replace(/\{(\w+)\}/g, ':$1')}`));
      for (const r of stack.app.app.routes) {
        const name = `${r.method} ${r.path}`;
        if (r.method === 'ALL' || declared.has(name) || r.path.includes('*')) continue;
        declared.add(name);
        const path = r.path.replace(/:(\w+)/g, '{$1}');
        const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({
          name: m[1]!,
          in: 'path' as const,
          schema: { type: 'string' },
        }));
        targets.push({
          name,
          method: r.method,
          path,
          op: { parameters: params },
          reachable: !path.includes('{'),
        });
      }
      known.set('file', [
        'dashboard.js',
        'dashboard.css',
        '__proto__',
        'constructor',
        'toString',
        '../app.ts',
      ]);
      expect(targets.length).toBeGreaterThan(15);

      // Routes that take a body have the most input to get wrong: they get more of the requests.
      const arb = fc.oneof(
        ...targets.map((t) => ({ weight: t.op.requestBody ? 4 : 1, arbitrary: requestArbitrary(t, keys) })),
      );
      const bodyTargets = targets.filter((t) => t.op.requestBody?.content?.['application/json']);
      expect(bodyTargets.length).toBeGreaterThanOrEqual(3);
      const oneBadField = fc.oneof(...bodyTargets.map((t) => oneBadFieldArbitrary(t, keys)));
      // (Routes with a body as well get their parameters from the general runners.)
      const paramTargets = targets.filter(
        (t) =>
          !t.op.requestBody &&
          (t.op.parameters ?? []).some((p) => p.in === 'path' || p.in === 'query') &&
          (t.op.parameters ?? []).every((p) => p.in !== 'path' || t.path.includes(`{${p.name}}`)),
      );
      const oneBadParam = fc.oneof(...paramTargets.map((t) => oneBadParamArbitrary(t, keys)));
      const seen = new Map<string, Map<number, number>>();
      let sent = 0;
      const started = Date.now();

      async function send(r: FuzzRequest): Promise<void> {
        const res = await fetch(`${stack.baseUrl}${r.url.startsWith('/') ? '' : '/'}${r.url}`, {
          method: r.method,
          headers: r.headers,
          // A Blob without a type is the way to send a body with no Content-Type at all.
          ...(r.body !== undefined
            ? { body: 'content-type' in r.headers ? r.body : new Blob([r.body]) }
            : {}),
          signal: AbortSignal.timeout(30_000),
        });
        sent++;
        const byStatus = seen.get(r.target) ?? new Map<number, number>();
        byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
        seen.set(r.target, byStatus);
        const type = res.headers.get('content-type') ?? '';
        // An event stream does not end by itself: the headers are the answer.
        const text = type.startsWith('text/event-stream') ? (await res.body?.cancel(), '') : await res.text();
        const what = `${r.method} ${r.url.slice(0, 300)} (${r.target}) → ${res.status} ${text.slice(0, 300)}`;
        expect(res.status, what).toBeLessThan(500);
        if (res.status >= 400) {
          expect(type, what).toBe('application/problem+json');
          const problem = JSON.parse(text) as { status: number; type: string; title: string };
          expect(problem.status, what).toBe(res.status);
          expect(problem.type, what).toMatch(/^\/problems\/[a-z-]+$/);
        }
        // A 405 names the methods the path takes, and the request's is not one of them.
        if (res.status === 405) {
          const allow = (res.headers.get('allow') ?? '').split(',').map((m) => m.trim());
          expect(allow.length > 0 && !allow.includes(r.method), what).toBe(true);
        }
      }

      // Half the runners send any request; a quarter, bodies with one bad field; a quarter, requests with
      // one bad parameter.
      const perLane = Math.ceil(TOTAL_REQUESTS / LANES);
      const examples = handlerExamples(targets, keys.user!).map((r): [FuzzRequest] => [r]);
      expect(examples.length).toBeGreaterThan(5);
      const lanes = await Promise.allSettled(
        Array.from({ length: LANES }, (_, i) =>
          fc.assert(fc.asyncProperty([arb, arb, oneBadField, oneBadParam][i % 4]!, send), {
            numRuns: perLane,
            seed: SEED + i,
            ...(i === 0 ? { examples } : {}),
          }),
        ),
      );
      const seconds = (Date.now() - started) / 1000;
      const summary = Object.fromEntries(
        [...seen].sort().map(([t, m]) => [t, Object.fromEntries([...m].sort((a, b) => a[0] - b[0]))]),
      );
      console.log(
        `fuzz: ${sent} requests in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s), ${LANES} lanes, seed ${SEED}\n` +
          JSON.stringify(summary, null, 1),
      );
      // fast-check keeps the property's own error as the cause.
      const failures = lanes.flatMap((l) => {
        if (l.status !== 'rejected') return [];
        const err = l.reason as Error & { cause?: Error };
        const inner = err.cause as (Error & { cause?: Error }) | undefined;
        return [`${err.message}\n${inner?.message ?? ''}\n${inner?.cause?.stack ?? ''}`];
      });
      expect(failures, `seed ${SEED}:\n${failures.join('\n\n')}`).toEqual([]);
      expect(sent).toBeGreaterThanOrEqual(TOTAL_REQUESTS);

      // Every route was driven, and every route that can answer 2xx/3xx did: the requests got past the
      // checks into the handlers, not only into validation.
      for (const t of targets) {
        const statuses = seen.get(t.name);
        expect(statuses, t.name).toBeDefined();
        const total = [...statuses!.values()].reduce((a, b) => a + b, 0);
        expect(total, t.name).toBeGreaterThanOrEqual(Math.floor(TOTAL_REQUESTS / targets.length / 4));
        // (Given enough requests to expect it: a short run, FUZZ_REQUESTS=1000, may miss a rare one.)
        if (t.reachable && total >= 200)
          expect(
            [...statuses!.keys()].some((s) => s < 400),
            `${t.name}: ${JSON.stringify(Object.fromEntries(statuses!))}`,
          ).toBe(true);
      }
    },
    20 * 60_000,
  );

  it('accepted nothing that its activity would refuse later', async () => {
    const rows = await stack.database.sql<{ id: string; kind: string; request: Record<string, unknown> }[]>`
      select id, kind, request from jobs where user_id in ${stack.database.sql(userIds)}`;
    expect(rows.length).toBeGreaterThan(20);
    for (const row of rows) {
      const what = `${row.id} ${JSON.stringify(row.request).slice(0, 300)}`;
      const name = row.request.fileName;
      if (name !== undefined) {
        expect(typeof name, what).toBe('string');
        expect(fileNameProblem(name as string), what).toBeUndefined();
        // One segment under the job's id, not . or .., short enough for a local file name (255 bytes,
        // with LocalStorage's 17-character `.tmp-…` suffix).
        const key = storageKey(row.id, name as string);
        const segment = key.slice(row.id.length + 1);
        expect(key.startsWith(`${row.id}/`) && !['.', '..'].includes(segment), what).toBe(true);
        expect(Buffer.byteLength(segment) + 17, what).toBeLessThanOrEqual(255);
      }
      if (row.kind === 'export') {
        const request = row.request as unknown as ExportRequest;
        const ds = getDataset(request.dataset);
        expect(ds, what).toBeDefined();
        expect(checkExportRequest(ds!, request), what).toEqual([]);
        if (request.title !== undefined) expect(textProblem(request.title), what).toBeUndefined();
      } else if (row.kind === 'audio') {
        const request = row.request as unknown as AudioRequest;
        expect(textProblem(request.text), what).toBeUndefined();
        expect(chunkText(request.text, stack.config.AUDIO_CHUNK_CHARS).length, what).toBeGreaterThan(0);
      }
    }
  });
});
