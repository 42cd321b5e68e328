/**
 * OpenTelemetry traces, off unless the standard variables ask for them: `OTEL_TRACES_EXPORTER=otlp`, or
 * an `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (and not `OTEL_SDK_DISABLED`).
 * Spans go to an OTLP/HTTP collector through a batch processor (`OTEL_BSP_*`); the service name comes
 * from `OTEL_SERVICE_NAME` or the process's own, other resource attributes from `OTEL_RESOURCE_ATTRIBUTES`.
 * Context crosses processes as W3C `traceparent`: HTTP headers into the API, the job row from the API to
 * the outbox relay, Temporal headers from there to workflows and activities.
 */
import os from 'node:os';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** The standard variables this module reads (others of the SDK's, such as OTEL_BSP_MAX_QUEUE_SIZE, apply too). */
export const TRACING_ENV_VARS = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_TRACES_EXPORTER',
  'OTEL_SDK_DISABLED',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_BSP_SCHEDULE_DELAY',
] as const;

export interface Tracing {
  /** Where spans go: also handed to the workflows' span sink. */
  processor: SpanProcessor;
  resource: Resource;
  /** Flush what is buffered and stop. */
  shutdown(): Promise<void>;
}

/** Whether the environment turns traces on (see the module comment). */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporters = env.OTEL_TRACES_EXPORTER?.split(',').map((e) => e.trim());
  if (exporters !== undefined && exporters.length > 0 && exporters[0] !== '')
    return exporters.includes('otlp');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Registers the process's tracer provider when the environment asks for traces; undefined otherwise (the
 * API's global no-op tracer stays, and spans cost nothing). Call once, first thing in a process.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  if (!tracingRequested(env)) return undefined;
  // The instance id is the worker name attempts are recorded with (host:pid).
  const resource = new Resource({
    'service.name': serviceName,
    'service.instance.id': `${os.hostname()}:${process.pid}`,
  }).merge(detectResourcesSync({ detectors: [envDetectorSync] }));
  // From `env` (the exporter and processor would read process.env themselves).
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/$/, '');
  const url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : undefined);
  const delay = Number(env.OTEL_BSP_SCHEDULE_DELAY);
  const processor = new BatchSpanProcessor(
    new OTLPTraceExporter(url ? { url } : {}),
    Number.isFinite(delay) && delay > 0 ? { scheduledDelayMillis: delay } : {},
  );
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return { processor, resource, shutdown: () => provider.shutdown() };
}

/** What a worker gives the workflows' span sink when traces are off: nothing is recorded. */
export const NO_TRACING: Pick<Tracing, 'processor' | 'resource'> = {
  processor: new NoopSpanProcessor(),
  resource: Resource.empty(),
};

/** The current span's W3C `traceparent`, to store with a job; undefined when no span is recording. */
export function currentTraceparent(): string | undefined {
  if (!trace.getSpan(context.active())?.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a stored `traceparent` continues (the root context without one). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  return traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
}

/** Runs `fn` in a child span of the current one named `name`; an error marks the span and is rethrown. */
export function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  return trace.getTracer('offload').startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  });
}
