/**
 * Errors that say a dependency cannot be reached (down, restarting, shutting down, refusing connections):
 * PostgreSQL, Temporal, or another service (object storage). `unreachableDependency(err)` recognises them
 * anywhere in an error's `cause` chain (drizzle wraps postgres.js errors in DrizzleQueryError, the
 * Temporal client wraps gRPC errors in ServiceError) and in an AggregateError's `errors` (Node's
 * connection attempts to several addresses). A bare socket error that did not come through the database
 * driver is another service's. The API answers such errors 503 (src/server/http/dependency-errors.ts);
 * a heavy activity waits for the database before its attempt ends (src/activities/heavy/attempt.ts).
 */
import { isGrpcServiceError } from '@temporalio/client';

/** `service` is an unnamed one: a bare socket error from outside the database driver (object storage). */
export type Dependency = 'database' | 'temporal' | 'service';

/** Socket errors of Node (and of postgres.js, which passes them on): the peer is not reachable. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  // A compose or Kubernetes service name that does not resolve while its container is being replaced.
  'ENOTFOUND',
]);

/** postgres.js's own connection errors (its `Errors.connection`). */
const POSTGRES_JS_CODES = new Set([
  'CONNECTION_ENDED', // the pool was ended (this process shutting down) before the query ran
  'CONNECTION_CLOSED', // the server closed the connection during the query
  'CONNECTION_DESTROYED', // the connection was terminated with the query on it
  'CONNECT_TIMEOUT',
]);

/**
 * SQLSTATEs of a server that is going away, not ready yet or full: class 08 (connection exception) is
 * matched as a class.
 */
const SQLSTATES = new Set([
  '57P01', // admin_shutdown: terminated by a fast shutdown (a restart)
  '57P02', // crash_shutdown: another backend crashed, the server restarts
  '57P03', // cannot_connect_now: starting up, shutting down or in recovery
  '53300', // too_many_connections
]);

/** gRPC status codes of a Temporal service that does not answer (grpc.status numbers). */
const GRPC_CODES = new Set([
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED: the server sheds load
  14, // UNAVAILABLE: no connection, connection dropped, server shutting down
]);

const MAX_DEPTH = 8;

/** The unreachable dependency `err` tells of, with the error that tells it, or undefined. */
export function unreachableDependency(err: unknown): { dependency: Dependency; error: Error } | undefined {
  const seen = new Set<unknown>();
  // `inDatabase`: an error further out came from the database driver (drizzle's wrapper, a query's error).
  const visit = (
    e: unknown,
    depth: number,
    inDatabase: boolean,
  ): { dependency: Dependency; error: Error } | undefined => {
    if (typeof e !== 'object' || e === null || seen.has(e) || depth > MAX_DEPTH) return undefined;
    seen.add(e);
    const fromDatabase = inDatabase || isDatabaseError(e);
    const dependency = classify(e, fromDatabase);
    if (dependency) return { dependency, error: e as Error };
    if (e instanceof AggregateError) {
      for (const inner of e.errors as unknown[]) {
        const found = visit(inner, depth + 1, fromDatabase);
        if (found) return found;
      }
    }
    return visit((e as { cause?: unknown }).cause, depth + 1, fromDatabase);
  };
  return visit(err, 0, false);
}

/**
 * Whether an error comes from the database driver: drizzle's DrizzleQueryError, or an error postgres.js
 * rejected a query with (it defines the query's text as the error's own `query` property).
 */
function isDatabaseError(e: object): boolean {
  return (e as { name?: unknown }).name === 'DrizzleQueryError' || Object.hasOwn(e, 'query');
}

function classify(e: object, fromDatabase: boolean): Dependency | undefined {
  if (isGrpcServiceError(e)) return GRPC_CODES.has(e.code) ? 'temporal' : undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  // postgres.js's PostgresError carries the SQLSTATE as `code` (and `severity`, `routine`, ...).
  if ((e as { name?: unknown }).name === 'PostgresError') {
    return SQLSTATES.has(code) || code.startsWith('08') ? 'database' : undefined;
  }
  if (POSTGRES_JS_CODES.has(code)) return 'database';
  // A bare socket error: the API reaches Temporal only through gRPC, whose errors are classified above,
  // so it is the database's when the driver passed it on, else another service's (object storage).
  if (SOCKET_CODES.has(code)) return fromDatabase ? 'database' : 'service';
  return undefined;
}
