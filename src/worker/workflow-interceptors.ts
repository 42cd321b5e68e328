/**
 * Workflow interceptor modules every bundle of the workflows includes (`npm run build`, the tests, the
 * benchmarks, a worker bundling at start): OpenTelemetry spans for each workflow, handed to the worker
 * through the `exporter` sink, which records nothing when traces are off (src/worker/create-workers.ts).
 */
import { createRequire } from 'node:module';

export const WORKFLOW_INTERCEPTOR_MODULES = [
  createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];
