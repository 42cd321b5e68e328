/**
 * One server span per request (`POST /v1/exports`, by route pattern), continuing the caller's trace when
 * the request carries a W3C `traceparent`. With traces off (src/lib/tracing.ts) the global tracer is the
 * no-op one and this costs nothing. A job created inside the span stores its `traceparent`, so the
 * workflow the relay starts later belongs to the same trace.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { AppEnv } from './context.js';

export function traceRequests(): MiddlewareHandler<AppEnv> {
  const tracer = trace.getTracer('offload-api');
  return async (c, next) => {
    const carrier: Record<string, string> = {};
    for (const name of ['traceparent', 'tracestate']) {
      const value = c.req.header(name);
      if (value !== undefined) carrier[name] = value;
    }
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const span = tracer.startSpan(
      `${c.req.method}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': c.req.method, 'url.path': c.req.path },
      },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = matchedRoutes(c).findLast((r) => r.method !== 'ALL')?.path;
      if (route) {
        span.updateName(`${c.req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', c.res.status);
      if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
