/**
 * Spans for the writes to result storage (`storage.writePart`, `storage.publish`, …), children of the
 * activity's span. Other methods pass through untouched. With traces off the tracer is the no-op one.
 */
import { trace } from '@opentelemetry/api';
import { inSpan } from '../lib/tracing.js';
import type { Storage } from './storage.js';

const WRITES = new Set<string>(['writePart', 'publish', 'writeObject', 'deleteParts', 'delete']);

export function tracedStorage(inner: Storage, driver: string): Storage {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof property !== 'string' || !WRITES.has(property) || typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) => {
        // The first argument is the job id or the object key, the second a part index: nothing secret.
        const attributes = {
          'offload.storage.driver': driver,
          ...(typeof args[0] === 'string' ? { 'offload.storage.target': args[0] } : {}),
          ...(typeof args[1] === 'number' ? { 'offload.storage.part': args[1] } : {}),
        };
        return inSpan(`storage.${property}`, attributes, async () => {
          const result = await method.apply(target, args);
          const bytes = (result as { bytes?: unknown } | undefined)?.bytes;
          if (typeof bytes === 'number') trace.getActiveSpan()?.setAttribute('offload.storage.bytes', bytes);
          return result;
        });
      };
    },
  });
}
