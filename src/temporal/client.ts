/** The Temporal client used by the API and the tools: one connection, reused. */
import { Client, Connection } from '@temporalio/client';
import type { TemporalSettings } from '../config/env.js';

export interface TemporalHandle {
  client: Client;
  close(): Promise<void>;
}

export async function connectTemporal(settings: TemporalSettings): Promise<TemporalHandle> {
  const connection = await Connection.connect(settings.connection);
  const client = new Client({ connection, namespace: settings.namespace });
  return { client, close: () => connection.close() };
}
