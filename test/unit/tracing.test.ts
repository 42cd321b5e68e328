/** Traces are off unless the standard OTEL_* variables ask for them (src/lib/tracing.ts). */
import { describe, expect, it } from 'vitest';
import { tracingRequested } from '../../src/lib/tracing.js';

describe('tracingRequested', () => {
  it('is off with no OTEL_* variable', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
  });

  it('is on with an OTLP endpoint, or with OTEL_TRACES_EXPORTER naming otlp', () => {
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'console, otlp' })).toBe(true);
  });

  it('stays off when OTEL_TRACES_EXPORTER says none or OTEL_SDK_DISABLED is true', () => {
    expect(
      tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }),
    ).toBe(false);
    expect(
      tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }),
    ).toBe(false);
  });
});
