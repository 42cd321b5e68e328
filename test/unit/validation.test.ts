/** The export request schema as the API reports it (fieldErrors), and the Content-Disposition header. */
import { describe, expect, it } from 'vitest';
import { datasets } from '../../src/datasets/registry.js';
import { contentDisposition } from '../../src/server/http/content-disposition.js';
import type { FieldError } from '../../src/server/http/problem.js';
import { loadConfig } from '../../src/config/env.js';
import { exportKind } from '../../src/kinds/export.js';
import { creationSchema } from '../../src/server/routes/job-kinds.js';
import { fieldErrors } from '../../src/server/http/validation.js';

const ExportRequestSchema = creationSchema(exportKind, loadConfig({}));

const ORDER_COLUMNS = datasets().orders!.columns.map((c) => c.name);

/** The field errors the API would answer for `body`; fails the test when the body is accepted. */
function errorsFor(body: unknown): FieldError[] {
  const result = ExportRequestSchema.safeParse(body);
  if (result.success) throw new Error(`accepted ${JSON.stringify(body)}`);
  return fieldErrors(result.error, 'json');
}

function only(errors: FieldError[]): FieldError {
  expect(errors, JSON.stringify(errors)).toHaveLength(1);
  return errors[0]!;
}

describe('ExportRequestSchema', () => {
  it.each([
    [{ dataset: 'orders', format: 'csv' }],
    [{ dataset: 'orders', format: 'csv', columns: ['email', 'id'] }],
    [{ dataset: 'orders', format: 'csv', columns: ORDER_COLUMNS }],
    [{ dataset: 'orders', format: 'csv', fileName: 'Rapport été 2024 (final).csv' }],
  ])('accepts %j unchanged', (body) => {
    const result = ExportRequestSchema.safeParse(body);
    expect(result.success).toBe(true);
    expect(result.data).toEqual(body);
  });

  it('names `dataset` and lists the allowed datasets for an unknown one', () => {
    const e = only(errorsFor({ dataset: 'invoices', format: 'csv' }));
    expect(e).toEqual({
      field: 'dataset',
      in: 'body',
      reason: 'unknown dataset; allowed: orders, customers',
    });
  });

  it.each(['toString', '__proto__', 'constructor', 'hasOwnProperty'])(
    'does not treat the Object.prototype key %j as a dataset',
    (dataset) => {
      expect(only(errorsFor({ dataset, format: 'csv' })).field).toBe('dataset');
    },
  );

  it('names `format` for an unknown format and lists the allowed ones', () => {
    expect(only(errorsFor({ dataset: 'orders', format: 'xml' }))).toEqual({
      field: 'format',
      in: 'body',
      reason: 'must be one of: csv, ndjson, xlsx, pdf, parquet',
    });
  });

  it('names a missing field', () => {
    const errors = errorsFor({ format: 'csv' });
    expect(only(errors).field).toBe('dataset');
  });

  it('names `columns.1` for an unknown second column and lists the allowed columns', () => {
    const e = only(errorsFor({ dataset: 'orders', format: 'csv', columns: ['id', 'password'] }));
    expect(e.field).toBe('columns.1');
    expect(e.reason).toBe(`unknown column; allowed: ${ORDER_COLUMNS.join(', ')}`);
  });

  it('names the second occurrence of a duplicate column', () => {
    const e = only(errorsFor({ dataset: 'orders', format: 'csv', columns: ['id', 'email', 'id'] }));
    expect(e).toEqual({ field: 'columns.2', in: 'body', reason: 'column listed twice' });
  });

  it('reports each bad column separately', () => {
    const errors = errorsFor({ dataset: 'orders', format: 'csv', columns: ['nope', 'id', 'id', 'zip'] });
    expect(errors.map((e) => e.field)).toEqual(['columns.0', 'columns.2', 'columns.3']);
  });

  it('rejects an empty column list', () => {
    expect(only(errorsFor({ dataset: 'orders', format: 'csv', columns: [] }))).toEqual({
      field: 'columns',
      in: 'body',
      reason: 'must name at least one column',
    });
  });

  it('reports an unknown top-level field by its name with "unknown field"', () => {
    expect(only(errorsFor({ dataset: 'orders', format: 'csv', tenantId: 'someone-else' }))).toEqual({
      field: 'tenantId',
      in: 'body',
      reason: 'unknown field',
    });
  });

  it('reports each unknown field, next to other errors', () => {
    const errors = errorsFor({ dataset: 'orders', format: 'docx', a: 1, b: 2 });
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'format', in: 'body', reason: 'must be one of: csv, ndjson, xlsx, pdf, parquet' },
        { field: 'a', in: 'body', reason: 'unknown field' },
        { field: 'b', in: 'body', reason: 'unknown field' },
      ]),
    );
    expect(errors).toHaveLength(3);
  });

  it.each([
    ['a slash', 'reports/2024.csv'],
    ['a leading slash', '/etc/passwd'],
    ['a backslash', '..\\secret.csv'],
    ['a newline', 'a\nb.csv'],
    ['CRLF header injection', 'x.csv\r\nSet-Cookie: a=b'],
    ['a NUL', 'a\u0000.csv'],
    ['a tab', 'a\tb.csv'],
    ['DEL', 'a\u007f.csv'],
  ])('rejects a fileName with %s', (_label, fileName) => {
    expect(only(errorsFor({ dataset: 'orders', format: 'csv', fileName }))).toEqual({
      field: 'fileName',
      in: 'body',
      reason: 'must not contain slashes or control characters',
    });
  });

  it('rejects an empty and an overlong fileName', () => {
    const empty = errorsFor({ dataset: 'orders', format: 'csv', fileName: '' });
    expect(empty.length).toBeGreaterThan(0);
    expect(empty.every((e) => e.field === 'fileName')).toBe(true);
    expect(only(errorsFor({ dataset: 'orders', format: 'csv', fileName: 'a'.repeat(201) })).field).toBe(
      'fileName',
    );
  });

  it('names the body itself when it is not an object', () => {
    for (const body of [null, [], 'orders', 42]) {
      const e = only(errorsFor(body));
      expect(e.field).toBe('(body)');
      expect(e.in).toBe('body');
    }
  });
});

describe('fieldErrors', () => {
  it('maps the request part to `in` and names the part when the path is empty', () => {
    const result = ExportRequestSchema.safeParse(null);
    expect(result.success).toBe(false);
    expect(fieldErrors(result.error!, 'query')).toEqual([
      { field: '(query)', in: 'query', reason: expect.any(String) as unknown },
    ]);
    expect(fieldErrors(result.error!, 'param')[0]!.in).toBe('path');
    expect(fieldErrors(result.error!, 'header')[0]!.in).toBe('header');
  });
});

/** The parameters of a Content-Disposition header value. */
function parseDisposition(header: string): { type: string; filename: string; filenameStar: string } {
  const m =
    /^(attachment); filename="((?:[^"\\]|\\.)*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+.^_`|~%-]*)$/.exec(
      header,
    );
  if (!m) throw new Error(`not an RFC 6266 attachment header: ${JSON.stringify(header)}`);
  return { type: m[1]!, filename: m[2]!, filenameStar: decodeURIComponent(m[3]!) };
}

describe('contentDisposition', () => {
  it('gives a plain name as both filename and filename*', () => {
    expect(contentDisposition('orders-job_01.csv')).toBe(
      `attachment; filename="orders-job_01.csv"; filename*=UTF-8''orders-job_01.csv`,
    );
  });

  it.each([
    ['quotes', 'a "quoted" name.csv'],
    ['backslash', 'back\\slash.csv'],
    ['semicolon', 'a;b=c.csv'],
    ['non-ASCII', 'Übersicht été 2024 — 東京.csv'],
    ['only non-ASCII', '日本.csv'],
    ['emoji', '📦 export.csv'],
    ['path separators', '../../etc/passwd'],
    ['windows path', 'C:\\Windows\\system32\\x.csv'],
    ['CRLF injection', 'x.csv"\r\nSet-Cookie: session=evil; Path=/'],
    ['bare LF', 'x.csv\nLocation: https://evil.example'],
    ['NUL', 'x\u0000.csv'],
    ['unicode line separator', 'x\u2028y\u2029.csv'],
    ['RFC 5987 specials', "it's (1)*.csv"],
    ['percent', '100% done.csv'],
  ])('is a safe, parseable header for a name with %s', (_label, name) => {
    const header = contentDisposition(name);
    // No control characters at all: CR/LF cannot split the header, NUL cannot truncate it.
    // eslint-disable-next-line no-control-regex -- that is what is checked
    expect(header).not.toMatch(/[\u0000-\u001f\u007f]/);
    // Only visible ASCII and spaces, so any HTTP stack accepts it as a header value.
    expect(header).toMatch(/^[\x20-\x7e]+$/);
    expect(() => new Headers({ 'content-disposition': header })).not.toThrow();
    const parsed = parseDisposition(header);
    expect(parsed.type).toBe('attachment');
    // filename* carries the exact name; the ASCII fallback has no quote, backslash or path separator.
    expect(parsed.filenameStar).toBe(name);
    expect(parsed.filename).not.toMatch(/["\\/]/);
    expect(parsed.filename.length).toBeGreaterThan(0);
  });

  it('keeps what it can of accented names in the fallback', () => {
    expect(parseDisposition(contentDisposition('Rapport été.csv')).filename).toBe('Rapport ete.csv');
  });

  it('falls back to "download" when nothing ASCII is left', () => {
    expect(parseDisposition(contentDisposition('東京')).filename).toBe('download');
  });
});
