/**
 * A request that needs Temporal itself (a cancel) waits at most API_TEMPORAL_TIMEOUT_MS: with a Temporal
 * address that accepts connections and never answers, the cancel is a 503 `dependency-unavailable` with
 * Retry-After, not a request held for the client's retries, and the job is left as it was.
 */
import { randomUUID } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { getJob } from '../../src/db/jobs-repo.js';
import { createApiKey, ensureUser } from '../../src/db/users-repo.js';
import { createLogger } from '../../src/lib/logger.js';
import { createApp, type App } from '../../src/server/app.js';
import { LocalStorage } from '../../src/storage/local.js';
import { createStackDatabase, type StackDatabase } from '../helpers/stack-database.js';

let blackHole: net.Server;
const sockets = new Set<net.Socket>();
let connection: Connection;
let database: Database;
let ownDatabase: StackDatabase;
let app: App['app'];
let key: string;

beforeAll(async () => {
  // Accepts TCP connections and never writes a byte: gRPC calls to it wait for their deadline.
  blackHole = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(blackHole.address() as AddressInfo).port}`;
  ownDatabase = await createStackDatabase(inject('databaseUrl'), inject('templateDatabase'));
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: ownDatabase.url,
    TEMPORAL_ADDRESS: address,
    STORAGE_DIR: path.join(inject('scratchDir'), `storage-${randomUUID()}`),
    API_TEMPORAL_TIMEOUT_MS: '500',
  });
  database = createDatabase(config.DATABASE_URL!, { max: 2 });
  connection = Connection.lazy({ address });
  app = createApp({
    config,
    database,
    temporal: new Client({ connection, namespace: 'default' }),
    storage: new LocalStorage(config.storageDir),
    log: createLogger({ level: 'silent', name: 'temporal-timeout-test' }),
  }).app;
  const user = await ensureUser(database.db, `temporal-timeout-${randomUUID()}`, 't-timeout');
  key = (await createApiKey(database.db, user.id)).key;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => blackHole?.close(resolve));
  await connection?.close().catch(() => undefined);
  await database?.close();
  await ownDatabase?.drop();
});

describe('a cancel while Temporal does not answer', () => {
  it('answers 503 dependency-unavailable with Retry-After and leaves the job as it was', async () => {
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    // Submissions never call Temporal (the job row is the outbox): accepted.
    const created = await app.request('/v1/exports', {
      method: 'POST',
      headers,
      body: JSON.stringify({ dataset: 'orders', format: 'csv' }),
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    // The row as the relay leaves it once the workflow started (the cancel then asks Temporal).
    await database.sql`update jobs set workflow_started_at = now() where id = ${id}`;

    const res = await app.request(`/v1/jobs/${id}/cancel`, { method: 'POST', headers });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as { type: string }).type).toBe('/problems/dependency-unavailable');
    expect((await getJob(database.db, id))?.state).toBe('queued');
  }, 15_000);
});
