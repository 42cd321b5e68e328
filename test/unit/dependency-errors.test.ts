/**
 * Which errors mean "PostgreSQL or Temporal is not reachable" (a 503 with Retry-After) and which do not
 * (left to the 500 path). The connection errors are the real ones the drivers throw against a port where
 * nothing listens; the server-side SQLSTATEs are built with postgres.js's own PostgresError.
 */
import net from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { Hono } from 'hono';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.js';
import { users } from '../../src/db/schema.js';
import { unreachableDependency } from '../../src/lib/dependency-errors.js';
import {
  DEPENDENCY_RETRY_AFTER_SECONDS,
  dependencyUnavailable,
} from '../../src/server/http/dependency-errors.js';
import { problemResponse } from '../../src/server/http/problem.js';

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What `promise` rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function pgError(code: string, message = 'from the server'): Error {
  return new postgres.PostgresError({ code, message, severity: 'FATAL' } as unknown as string);
}

let port: number;
let temporal: Connection;

beforeAll(async () => {
  port = await closedPort();
  // Without the default retry interceptor a call fails at once instead of after ~20 s of retries.
  temporal = Connection.lazy({ address: `127.0.0.1:${port}`, interceptors: [] });
});

afterAll(async () => {
  await temporal?.close();
});

describe('unreachableDependency: PostgreSQL', () => {
  it('recognises a refused connection from postgres.js', async () => {
    const sql = postgres(`postgres://u:p@127.0.0.1:${port}/db`, { max: 1, onnotice: () => {} });
    const err = await rejection(sql`select 1`);
    await sql.end();
    expect((err as { code?: string }).code).toBe('ECONNREFUSED');
    expect(unreachableDependency(err)?.dependency).toBe('database');
  });

  it('recognises it through drizzle, which wraps it in a DrizzleQueryError', async () => {
    const database = createDatabase(`postgres://u:p@127.0.0.1:${port}/db`, { max: 1 });
    const err = await rejection(database.db.select().from(users).limit(1));
    await database.close();
    expect((err as Error).constructor.name).toBe('DrizzleQueryError');
    const found = unreachableDependency(err);
    expect(found?.dependency).toBe('database');
    // The reason logged is the driver's, not the wrapper's message with the SQL in it.
    expect(dependencyUnavailable(err)?.reason).toMatch(/^ECONNREFUSED: /);
    expect(dependencyUnavailable(err)?.reason).not.toContain('select');
  });

  it('recognises a query on a pool that was ended (CONNECTION_ENDED)', async () => {
    const sql = postgres(`postgres://u:p@127.0.0.1:${port}/db`, { max: 1 });
    await sql.end();
    const err = await rejection(sql`select 1`);
    expect((err as { code?: string }).code).toBe('CONNECTION_ENDED');
    expect(unreachableDependency(err)?.dependency).toBe('database');
  });

  it.each(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'])(
    'recognises postgres.js %s',
    (code) => {
      const err = Object.assign(new Error(`write ${code} 127.0.0.1:5432`), { code, errno: code });
      expect(unreachableDependency(err)?.dependency).toBe('database');
    },
  );

  it.each(['ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND'])(
    'recognises the socket error %s from the database driver',
    (code) => {
      const socketError = () => Object.assign(new Error(`connect ${code}`), { code, syscall: 'connect' });
      // postgres.js rejects a query with the socket's error, the query's text defined on it...
      const rejected = Object.defineProperty(socketError(), 'query', { value: 'select 1' });
      expect(unreachableDependency(rejected)?.dependency).toBe('database');
      // ...and drizzle wraps it.
      const wrapped = Object.assign(new Error('Failed query: select 1'), {
        name: 'DrizzleQueryError',
        cause: socketError(),
      });
      expect(unreachableDependency(wrapped)?.dependency).toBe('database');
    },
  );

  it('calls a bare socket error from elsewhere (object storage) an unnamed service, still a 503', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), {
      code: 'ECONNREFUSED',
      $metadata: { attempts: 3 },
    });
    expect(unreachableDependency(err)?.dependency).toBe('service');
    const unavailable = dependencyUnavailable(err);
    expect(unavailable?.problem.status).toBe(503);
    expect(unavailable?.problem.detail).toMatch(/^a service this request needs is not reachable/);
  });

  it('recognises a socket error inside an AggregateError (several addresses tried)', () => {
    const inner = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' });
    const aggregate = Object.defineProperty(new AggregateError([new Error('x'), inner]), 'query', {
      value: 'select 1',
    });
    expect(unreachableDependency(aggregate)?.dependency).toBe('database');
    expect(unreachableDependency(new AggregateError([new Error('x'), inner]))?.dependency).toBe('service');
  });

  it.each([
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection because of crash of another server process'],
    ['57P03', 'the database system is starting up'],
    ['53300', 'sorry, too many clients already'],
    ['08006', 'connection failure'],
    ['08001', 'unable to establish connection'],
  ])('recognises SQLSTATE %s (%s)', (code, message) => {
    const err = pgError(code, message);
    expect(err.name).toBe('PostgresError');
    expect(unreachableDependency(err)?.dependency).toBe('database');
    expect(unreachableDependency(new Error('Failed query', { cause: err }))?.dependency).toBe('database');
  });

  it.each([
    ['23505', 'duplicate key value violates unique constraint'],
    ['22P02', 'invalid input syntax for type uuid'],
    ['42P01', 'relation "nope" does not exist'],
    ['57014', 'canceling statement due to statement timeout'],
    ['40001', 'could not serialize access'],
  ])('leaves SQLSTATE %s (%s) alone', (code, message) => {
    expect(unreachableDependency(pgError(code, message))).toBeUndefined();
  });
});

describe('unreachableDependency: Temporal', () => {
  it('recognises a gRPC UNAVAILABLE from the connection', async () => {
    const err = await rejection(temporal.workflowService.getSystemInfo({}));
    expect((err as { code?: number }).code).toBe(14);
    expect(unreachableDependency(err)?.dependency).toBe('temporal');
  });

  it("recognises it inside the client's ServiceError (a workflow cancel)", async () => {
    const client = new Client({ connection: temporal });
    const err = await rejection(client.workflow.getHandle('wf-1').cancel());
    expect((err as Error).name).toBe('ServiceError');
    expect(unreachableDependency(err)?.dependency).toBe('temporal');
  });

  it.each([
    [4, 'deadline exceeded'],
    [8, 'resource exhausted'],
    [14, 'unavailable'],
  ])('recognises gRPC status %i (%s)', (code, details) => {
    const err = Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
    expect(unreachableDependency(err)?.dependency).toBe('temporal');
  });

  it.each([
    [3, 'invalid argument'],
    [5, 'not found'],
    [6, 'already exists'],
    [7, 'permission denied'],
    [13, 'internal'],
  ])('leaves gRPC status %i (%s) alone', (code, details) => {
    const err = Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
    expect(unreachableDependency(err)).toBeUndefined();
  });
});

describe('unreachableDependency: anything else', () => {
  it.each([
    ['a plain Error', new Error('boom')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['an error with an unknown code', Object.assign(new Error('x'), { code: 'ENOENT' })],
    ['a string', 'ECONNREFUSED'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 14],
  ])('leaves %s alone', (_what, err) => {
    expect(unreachableDependency(err)).toBeUndefined();
    expect(dependencyUnavailable(err)).toBeUndefined();
  });

  it('stops on a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(unreachableDependency(a)).toBeUndefined();
  });
});

describe('dependencyUnavailable', () => {
  it('answers 503 problem+json dependency-unavailable with Retry-After', async () => {
    const unavailable = dependencyUnavailable(pgError('57P01'));
    expect(unavailable).toBeDefined();
    const app = new Hono().get('/v1/jobs/x', (c) => problemResponse(c, unavailable!.problem));
    const res = await app.request('/v1/jobs/x');
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe(String(DEPENDENCY_RETRY_AFTER_SECONDS));
    expect(await res.json()).toEqual({
      type: '/problems/dependency-unavailable',
      title: 'Service Unavailable',
      status: 503,
      detail: `the database is not reachable right now; retry in ${DEPENDENCY_RETRY_AFTER_SECONDS} s`,
      instance: '/v1/jobs/x',
      retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS,
    });
  });

  it('names the workflow service for a Temporal error', () => {
    const err = Object.assign(new Error('14 UNAVAILABLE'), { code: 14, details: 'x', metadata: {} });
    expect(dependencyUnavailable(err)?.problem.detail).toMatch(/^the workflow service is not reachable/);
  });
});
