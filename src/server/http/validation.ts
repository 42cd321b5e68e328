/** Turns zod validation failures into 422 problem responses naming each field and the reason. */
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
