/**
 * Turns zod validation failures into 422 problem responses naming each field and the reason, and checks
 * every string of every request part that passed its schema (values and object keys, at any depth) for
 * NUL and lone surrogates: the schemas' own fields refuse them already (safe-text.ts), this also covers
 * fields declared as plain z.string() or z.unknown(), so no such text reaches PostgreSQL or a worker.
 */
import type { z } from '@hono/zod-openapi';
import type { ZodError } from 'zod';
import { textProblem } from '../../shared/input.js';
import type { FieldError } from './problem.js';
import { problems } from './problem.js';

const TARGET_TO_IN: Record<string, FieldError['in']> = {
  json: 'body',
  query: 'query',
  param: 'path',
  header: 'header',
};

const wholePart = (target: string) => (target === 'json' ? '(body)' : `(${target})`);

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
    return [{ field: base || wholePart(target), in: where, reason: issue.message }];
  });
}

/** At most this many unsafe strings are named in one answer. */
const MAX_TEXT_ERRORS = 20;

/**
 * Every string in `value` that textProblem() refuses, by path. Iterative, so a deeply nested value (an
 * unknown filter's JSON) cannot exhaust the stack.
 */
export function unsafeTextErrors(value: unknown, target: string): FieldError[] {
  const where = TARGET_TO_IN[target] ?? 'body';
  const errors: FieldError[] = [];
  const stack: { value: unknown; path: string }[] = [{ value, path: '' }];
  while (stack.length > 0 && errors.length < MAX_TEXT_ERRORS) {
    const { value: v, path } = stack.pop()!;
    const at = (key: string) => (path ? `${path}.${key}` : key);
    if (typeof v === 'string') {
      const reason = textProblem(v);
      if (reason) errors.push({ field: path || wholePart(target), in: where, reason });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: at(String(i)) });
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i]!;
        const keyReason = textProblem(key);
        if (keyReason) {
          errors.push({ field: at(key), in: where, reason: `the name ${keyReason}` });
          continue;
        }
        stack.push({ value: item, path: at(key) });
      }
    }
  }
  return errors;
}

/**
 * The defaultHook for OpenAPIHono: throw a 422 problem when a request part fails its schema, or when a
 * part that passed still holds text that cannot be stored.
 */
export function validationHook(result: {
  success: boolean;
  target: string;
  data?: unknown;
  error?: ZodError;
}): void {
  if (!result.success) {
    if (result.error) throw problems.validation(fieldErrors(result.error, result.target));
    return;
  }
  const unsafe = unsafeTextErrors(result.data, result.target);
  if (unsafe.length > 0) throw problems.validation(unsafe);
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
