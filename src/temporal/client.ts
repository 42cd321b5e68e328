/**
 * The Temporal client used by the API, the outbox relay and the tools: one connection, reused. Its calls
 * (a workflow start, a cancel, a query) are spans of the current trace and carry it to the workflow in
 * their headers; with traces off that is a no-op.
 */
import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client/index.js';
import type { TemporalSettings } from '../config/env.js';

export interface TemporalHandle {
  client: Client;
  close(): Promise<void>;
}

export async function connectTemporal(settings: TemporalSettings): Promise<TemporalHandle> {
  const connection = await Connection.connect(settings.connection);
  const client = new Client({
    connection,
    namespace: settings.namespace,
    interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
  });
  return { client, close: () => connection.close() };
}
