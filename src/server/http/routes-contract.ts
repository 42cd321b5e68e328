/**
 * What every route shares, said once and driven by the registered routes (so a new route is covered):
 * the responses the OpenAPI document declares for it besides its own (`declareSharedResponses`), a 405
 * with `Allow` for a method a known path does not answer (`methodNotAllowed`), and a 400 for a missing
 * body where the route requires one (`requireDeclaredBody`).
 */
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.js';
import { HttpProblem, problemResponseDoc, RATE_LIMIT_HEADERS } from './problem.js';

type OpenAPIRegistry = OpenAPIHono<AppEnv>['openAPIRegistry'];

/** Routes behind the API key: authentication (401) and the request rate limit (429) run before them. */
const isAuthenticated = (route: RouteConfig) => route.security?.some((s) => 'bearer' in s) ?? false;

/**
 * Adds to every route of the document the statuses its middleware and request parts can answer:
 * - 401, 429 (with `Retry-After` and `RateLimit`) on the routes behind the API key, whose successful
 *   answers also carry the `RateLimit` headers;
 * - 503 with `Retry-After` on every route (each reads the database, under API_STATEMENT_TIMEOUT_MS);
 * - 422 on a route with path, query or header parameters;
 * - 400 (malformed JSON, missing body), 413 (too large) and 415 (not JSON) on a route with a body, and 422.
 * A status the route declares itself is kept as it is.
 */
export function declareSharedResponses(registry: OpenAPIRegistry): void {
  for (const def of registry.definitions) {
    if (def.type !== 'route') continue;
    const route = def.route;
    const responses = route.responses as Record<string, Record<string, unknown>>;
    const add = (...statuses: number[]) => {
      for (const s of statuses) responses[s] ??= problemResponseDoc(s);
    };
    const authenticated = isAuthenticated(route);
    if (authenticated) add(401, 429);
    add(503);
    const req = route.request;
    if (req?.params || req?.query || req?.headers) add(422);
    if (req?.body) add(400, 413, 415, 422);
    if (!authenticated) continue;
    // Every answer after the rate limit carries its headers (none when RATE_LIMIT_PER_SEC is 0).
    for (const [status, response] of Object.entries(responses)) {
      if (status === '401') continue;
      response.headers = { ...RATE_LIMIT_HEADERS, ...(response.headers as object | undefined) };
    }
  }
}

interface KnownRoute {
  method: string;
  pattern: RegExp;
}

/** `/v1/jobs/:id/events` as a regular expression matching one path segment per parameter. */
function pathPattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

/** The app's routes with a method (not middleware), read once on first use: by then all are registered. */
function knownRoutes(app: OpenAPIHono<AppEnv>): () => KnownRoute[] {
  let table: KnownRoute[] | undefined;
  return () =>
    (table ??= app.routes
      .filter((r) => r.method !== 'ALL' && !r.path.includes('*'))
      .map((r) => ({ method: r.method.toUpperCase(), pattern: pathPattern(r.path) })));
}

/**
 * The answer for a request no route took: 405 with `Allow` when its path is a route's under another
 * method only, else undefined (a 404). GET routes also answer HEAD.
 */
export function methodNotAllowed(app: OpenAPIHono<AppEnv>): (c: Context) => HttpProblem | undefined {
  const routes = knownRoutes(app);
  return (c) => {
    const path = c.req.path;
    const methods = new Set(
      routes()
        .filter((r) => r.pattern.test(path))
        .map((r) => r.method),
    );
    if (methods.size === 0) return undefined;
    if (methods.has('GET')) methods.add('HEAD');
    // A route that takes this method and still reached not-found (its handler called c.notFound()) is a 404.
    if (methods.has(c.req.method.toUpperCase())) return undefined;
    const allow = [...methods].sort().join(', ');
    return new HttpProblem(
      405,
      'method-not-allowed',
      'Method Not Allowed',
      `${c.req.method} is not allowed on ${path}; allowed: ${allow}`,
      { allow: [...methods].sort() },
      { allow },
    );
  };
}

/** Whether the request carries a body: by its headers, else by a look at the first bytes of a copy. */
async function hasBody(c: Context): Promise<boolean> {
  const length = c.req.header('content-length');
  if ((length !== undefined && Number(length) > 0) || c.req.header('transfer-encoding') !== undefined)
    return true;
  const raw = c.req.raw;
  if (raw.body === null || length !== undefined) return false;
  // No length header (a request made in-process): read a copy until the first byte or its end.
  const reader = (raw.clone().body as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return false;
      if (value.byteLength > 0) return true;
    }
  } finally {
    // Not awaited: cancelling one branch of a tee settles only once the other branch is cancelled too.
    void reader.cancel().catch(() => undefined);
  }
}

/**
 * A route whose document says `requestBody.required` gets a 400 for a request without a body, rather
 * than having it read as `{}` (the validator's behaviour with no Content-Type).
 */
export function requireDeclaredBody(app: OpenAPIHono<AppEnv>): MiddlewareHandler<AppEnv> {
  let table: KnownRoute[] | undefined;
  const bodyRoutes = () =>
    (table ??= app.openAPIRegistry.definitions.flatMap((def) =>
      def.type === 'route' && def.route.request?.body?.required
        ? [
            {
              method: def.route.method.toUpperCase(),
              pattern: pathPattern(def.route.path.replace(/\{(\w+)\}/g, ':$1')),
            },
          ]
        : [],
    ));
  return async (c, next) => {
    const route = bodyRoutes().some((r) => r.method === c.req.method && r.pattern.test(c.req.path));
    if (route && !(await hasBody(c))) {
      throw new HttpProblem(
        400,
        'malformed-request',
        'Bad Request',
        'this request needs a JSON body (Content-Type: application/json)',
      );
    }
    await next();
  };
}
