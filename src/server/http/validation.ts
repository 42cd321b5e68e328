/** Turns zod validation failures into 422 problem responses naming each field and the reason. */
import type { z } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import type { FieldError } from './problem.js';
import { problems } from './problem.js';

const TARGET_TO_IN: Record<string, FieldError['in']> = {
  json: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
};

export function fieldErrors(error: ZodError, target: string): FieldError[] {
  const where = TARGET_TO_IN[target] ?? 'body';
  return error.issues.flatMap((issue) => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: base ? `${base}.${key}` : key,
        in: where,
        reason: 'unknown field',
      }));
    }
    return [
      { field: base || (target === 'json' ? '(body)' : `(${target})`), in: where, reason: issue.message },
    ];
  });
}

/** The defaultHook for OpenAPIHono: throw a 422 problem when a request part fails its schema. */
export function validationHook(result: { success: boolean; target: string; error?: ZodError }): void {
  if (!result.success && result.error) throw problems.validation(fieldErrors(result.error, result.target));
}

/**
 * At most `max` characters as JSON Schema's `maxLength` counts them, code points (zod's `.max` counts
 * UTF-16 units, so 150 emoji would pass the document's limit of 200 and fail zod's).
 */
export function maxChars<T extends z.ZodString>(
  schema: T,
  max: number,
  message = `must be at most ${max} characters`,
) {
  return schema.refine((s) => codePoints(s) <= max, message).openapi({ maxLength: max });
}

/** The number of code points of `s` (a lone surrogate counts as one). */
export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
