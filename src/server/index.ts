/** API process entry: `npm start`. Migrates, serves HTTP, stops cleanly on SIGTERM. */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from '../config/env.js';
import { purgeExpiredIdempotencyKeys } from '../db/idempotency-repo.js';
import { migrateDatabase } from '../db/migrate.js';
import { DatasetsFileError } from '../datasets/file.js';
import { openDatasets } from '../datasets/load.js';
import { createLogger } from '../lib/logger.js';
import { startTracing } from '../lib/tracing.js';
import { createStorage } from '../storage/index.js';
import { connectTemporal } from '../temporal/client.js';
import { createApp } from './app.js';
import { createApiDatabases } from './databases.js';

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.DATABASE_URL) throw new ConfigError(['DATABASE_URL: required by the API']);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'offload-api', format: config.LOG_FORMAT });
  // Off unless the OTEL_* variables ask for traces (src/lib/tracing.ts).
  const tracing = startTracing('offload-api');
  await migrateDatabase(config.DATABASE_URL);
  // Both with statement_timeout = API_STATEMENT_TIMEOUT_MS (the migration above runs without it).
  const { database, rateLimitDatabase } = createApiDatabases(config);
  // The datasets file, checked against every source before anything is served (problems: exit 1).
  const datasets = await openDatasets(config, {
    max: config.SOURCE_POOL_MAX,
    appName: 'offload-api',
    statementTimeoutMs: config.API_STATEMENT_TIMEOUT_MS,
  });
  const temporal = await connectTemporal(config.temporal);
  const { app, attachServer } = createApp({
    datasets,
    config,
    database,
    rateLimitDatabase,
    temporal: temporal.client,
    storage: createStorage(config),
    log,
  });
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    log.info({ url: `http://${config.HOST}:${info.port}` }, 'API listening');
  });

  const closeSockets = attachServer(server as Server);
  // Idempotency keys expire after 24 h; expired ones are also replaced on use, this keeps the table small.
  const purge = setInterval(() => {
    purgeExpiredIdempotencyKeys(database.db).catch((err: unknown) =>
      log.warn({ err }, 'idempotency purge failed'),
    );
  }, 3_600_000);
  purge.unref();

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    closeSockets();
    server.close(() => {
      void Promise.allSettled([
        temporal.close(),
        database.close(),
        rateLimitDatabase.close(),
        tracing?.shutdown(),
        datasets.close(),
      ]).then(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError || err instanceof DatasetsFileError ? err.message : err);
  process.exit(1);
});
