/**
 * Regular expressions that both validate input and appear as `pattern` in the OpenAPI document, so that
 * a value valid by the document is one the API accepts. Written for both dialects that read them
 * (ECMAScript here and in JSON Schema validators, Python's `re` in generators such as schemathesis'):
 * ASCII classes only (`[0-9]`, not `\d`, which is Unicode in Python), and no lookaround.
 */

/** Year 0001 to 9999 (PostgreSQL has no year 0). */
const YEAR = '(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})';
/** Years with a 29 February: divisible by 4 but not by 100, or by 400. */
const LEAP_YEAR = '(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)';
/** A day of the Gregorian calendar, `YYYY-MM-DD`: no 30 February, no 31 April. */
const DATE =
  `(?:${LEAP_YEAR}-02-29|${YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])` +
  '|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8])))';
const HOUR_MINUTE = '(?:[01][0-9]|2[0-3]):[0-5][0-9]';
const SECONDS = ':[0-5][0-9](?:\\.[0-9]{1,6})?';
/** `Z` or an offset up to ±14:59, with or without the colon. */
const ZONE = '(?:Z|[+-](?:0[0-9]|1[0-4]):?[0-5][0-9])';

/**
 * A date, or a date and time (`T` or a space between, seconds and zone optional): what an export's
 * timestamp filter takes. Every match is a real instant for JavaScript and PostgreSQL alike.
 */
export const TIMESTAMP_PATTERN = new RegExp(`^${DATE}(?:[T ]${HOUR_MINUTE}(?:${SECONDS})?${ZONE}?)?$`);

/** RFC 3339's zone: `Z` or `±hh:mm` (here up to ±14:59). */
const RFC3339_ZONE = '(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])';

/** An RFC 3339 date-time with seconds and a zone (up to microseconds): the list filters' bounds. */
export const DATE_TIME_PATTERN = new RegExp(`^${DATE}T${HOUR_MINUTE}${SECONDS}${RFC3339_ZONE}$`);

/** A decimal number written as a string: up to 15 digits before the point and 6 after. */
export const DECIMAL_PATTERN = /^-?[0-9]{1,15}(?:\.[0-9]{1,6})?$/;

/** An integer written as a string: up to 15 digits. */
export const INTEGER_PATTERN = /^-?[0-9]{1,15}$/;

/**
 * An e-mail address as the API takes it: dot-separated atoms of letters, digits and _ ' + - before the
 * @, and a domain name whose top-level domain is letters. Stricter than RFC 5322 (no quoted parts, no
 * other symbols), so every address it takes is one a mail server takes too.
 */
export const EMAIL_PATTERN =
  /^[A-Za-z0-9_'+-]+(?:\.[A-Za-z0-9_'+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
