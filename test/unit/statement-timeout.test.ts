/** A query the database cancelled (statement_timeout) maps to 503 with Retry-After, wrapped or not. */
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { isQueryCanceled, queryTimeoutProblem } from '../../src/server/http/statement-timeout.js';

/** What postgres.js throws: a PostgresError with the SQLSTATE in `code`. */
function postgresError(code: string): Error {
  return Object.assign(new Error('canceling statement due to statement timeout'), {
    name: 'PostgresError',
    code,
  });
}

describe('queryTimeoutProblem', () => {
  it('is a 503 database-timeout with Retry-After for SQLSTATE 57014, direct or wrapped by drizzle', () => {
    for (const err of [
      postgresError('57014'),
      new DrizzleQueryError('select 1', [], postgresError('57014')),
      new Error('transaction failed', { cause: new DrizzleQueryError('insert', [], postgresError('57014')) }),
    ]) {
      const problem = queryTimeoutProblem(err);
      expect(problem?.status).toBe(503);
      expect(problem?.code).toBe('database-timeout');
      expect(Number(problem?.headers['retry-after'])).toBeGreaterThan(0);
    }
  });

  it('leaves every other error alone', () => {
    for (const err of [
      postgresError('23505'),
      new DrizzleQueryError('select 1', [], postgresError('40P01')),
      Object.assign(new Error('57014'), { code: '57014' }), // not from postgres.js
      new Error('boom'),
      'a string',
      undefined,
    ]) {
      expect(queryTimeoutProblem(err)).toBeUndefined();
    }
    // A cause cycle ends the walk.
    const a: { name: string; cause?: unknown } = { name: 'Error' };
    a.cause = a;
    expect(isQueryCanceled(a)).toBe(false);
  });
});
