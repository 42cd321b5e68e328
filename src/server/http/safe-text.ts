/**
 * The string schemas every request field is built from: text that PostgreSQL, UTF-8 and the result's
 * headers all take (no NUL, no lone surrogate; src/shared/input.ts) and safe file names. Each also puts
 * its rule into the OpenAPI document as a `pattern` where JSON Schema can say it. validationHook
 * (validation.ts) checks every string of every validated request part again, so a field declared with
 * a plain z.string() (a kind defined elsewhere) is covered too.
 */
import { z } from '@hono/zod-openapi';
import { SAFE_TEXT_PATTERN, textProblem } from '../../shared/input.js';
import { codePoints } from './validation.js';

export { SAFE_TEXT_PATTERN };

/** `schema` refusing NUL and lone surrogates (422 naming the field), described by `pattern`. */
export function safe<S extends z.ZodType<string>>(schema: S, pattern: string = SAFE_TEXT_PATTERN): S {
  return schema
    .superRefine((value, ctx) => {
      const reason = textProblem(value);
      if (reason) ctx.addIssue({ code: 'custom', message: reason });
    })
    .openapi({ pattern });
}

/** A plain text field: z.string() that refuses NUL and lone surrogates. */
export const safeText = () => safe(z.string());

/**
 * What a file name may not contain: `/` and `\`, C0 and C1 control characters and DEL, the line and
 * paragraph separators, and the bidirectional overrides and isolates (a name that displays as
 * `report.pdf` but is `report‮fdp.exe`).
 */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const NAME_UNSAFE = /[/\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** SAFE_TEXT_PATTERN narrowed to file names: none of NAME_UNSAFE, not empty, and not `.` or `..`. */
export const FILE_NAME_PATTERN =
  '^(?!\\.\\.?$)[^/\\\\\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]+$';

/** Why `name` is not a safe file name, or undefined when it is. */
export function fileNameProblem(name: string): string | undefined {
  if (name === '.' || name === '..') return 'must not be . or ..';
  // Line separators and bidirectional controls count as control characters here.
  if (NAME_UNSAFE.test(name)) return 'must not contain slashes or control characters';
  return textProblem(name);
}

/** A file name for a result: 1 to `max` characters, one safe path segment (fileNameProblem). */
export function fileName(max = 200) {
  return (
    z
      .string()
      .min(1, 'must not be empty')
      // In code points, as the document's maxLength counts them.
      .refine((value) => codePoints(value) <= max, `must be at most ${max} characters`)
      .superRefine((value, ctx) => {
        const reason = fileNameProblem(value);
        if (reason) ctx.addIssue({ code: 'custom', message: reason });
      })
      .openapi({ pattern: FILE_NAME_PATTERN, maxLength: max })
  );
}
