/**
 * What every piece of text and every date a request carries must be before anything stores or queries
 * it: text without NUL (PostgreSQL refuses it in text and jsonb) and well-formed Unicode (no lone UTF-16
 * surrogate, which jsonb, UTF-8 and encodeURIComponent refuse); dates that exist in the calendar and that
 * PostgreSQL can read. Pure functions, so the API, the dataset checks and the activities share them.
 */

// A lone surrogate: with the `u` flag a valid pair is one code point and does not match.
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/**
 * JSON Schema's form of textProblem(), as far as schema tools can take it: no NUL. Lone surrogates are
 * refused too, but a pattern naming surrogates is one that Python's `re` (schemathesis, hypothesis) and
 * other engines cannot use as written, and no UTF-8 JSON document can carry one anyway: descriptions
 * say it instead.
 */
export const SAFE_TEXT_PATTERN = '^[^\\u0000]*$';

/** Why `text` cannot be stored as given, or undefined when it can. */
export function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL characters (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (it has an unpaired UTF-16 surrogate)';
  return undefined;
}

/** The earliest and latest instants a request may name: years 0001 to 9999, in UTC. */
export const EARLIEST_INSTANT_MS = Date.parse('0001-01-01T00:00:00.000Z');
export const LATEST_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z');
export const INSTANT_RANGE = 'from 0001-01-01 to 9999-12-31 (UTC)';

/** Why the instant `ms` is outside what a request may name, or undefined when it is inside. */
export function instantProblem(ms: number): string | undefined {
  if (Number.isNaN(ms)) return 'must be a date and time';
  if (ms < EARLIEST_INSTANT_MS || ms > LATEST_INSTANT_MS) return `must be ${INSTANT_RANGE}`;
  return undefined;
}

/**
 * `YYYY-MM-DD`, optionally followed by `T` or a space and `hh:mm`, `:ss`, `.ffffff` (up to microseconds,
 * PostgreSQL's precision), then `Z` or an offset `±hh`, `±hhmm` or `±hh:mm`.
 */
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/** PostgreSQL accepts time zone offsets up to ±15:59. */
const MAX_OFFSET_HOURS = 15;

const isLeapYear = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

export function daysInMonth(year: number, month: number): number {
  return [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

export type ParsedTimestamp =
  | {
      ok: true;
      /**
       * Microseconds since the epoch (an offset-less time read as UTC), to order two bounds; PostgreSQL
       * reads the text itself.
       */
      micros: bigint;
    }
  | { ok: false; reason: string };

/**
 * A date or date-time as an export filter takes it, checked field by field so that PostgreSQL never
 * sees a date it refuses: a year from 0001 to 9999 (PostgreSQL has no year 0), a month that exists, a
 * day that exists in that month (2023-02-29 does not), hours 00-23, minutes and seconds 00-59, and an
 * offset of at most ±15:59.
 */
export function parseTimestamp(text: string): ParsedTimestamp {
  const m = TIMESTAMP.exec(text);
  if (!m)
    return {
      ok: false,
      reason: 'must be an ISO 8601 date (YYYY-MM-DD) or date-time (YYYY-MM-DDThh:mm[:ss[.ffffff]][Z|±hh:mm])',
    };
  const [year, month, day] = [m[1], m[2], m[3]].map(Number) as [number, number, number];
  const [hour, minute, second] = [m[4], m[5], m[6]].map((v) => Number(v ?? 0)) as [number, number, number];
  if (year < 1) return { ok: false, reason: 'must be a date from year 0001 to 9999 (there is no year 0)' };
  if (month < 1 || month > 12) return { ok: false, reason: `month ${m[2]} does not exist (01-12)` };
  if (day < 1 || day > daysInMonth(year, month))
    return {
      ok: false,
      reason: `${m[1]}-${m[2]}-${m[3]} is not a date (that month has ${daysInMonth(year, month)} days)`,
    };
  if (hour > 23) return { ok: false, reason: 'hours must be 00-23' };
  if (minute > 59) return { ok: false, reason: 'minutes must be 00-59' };
  if (second > 59) return { ok: false, reason: 'seconds must be 00-59' };
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11] ?? 0);
    if (oh > MAX_OFFSET_HOURS || om > 59)
      return {
        ok: false,
        reason: `the offset must be from -${MAX_OFFSET_HOURS}:59 to +${MAX_OFFSET_HOURS}:59`,
      };
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offsetMinutes, second, 0);
  const fraction = BigInt((m[7] ?? '').padEnd(6, '0'));
  return { ok: true, micros: BigInt(date.getTime()) * 1000n + fraction };
}
