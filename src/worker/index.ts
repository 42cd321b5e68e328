/**
 * Worker process entry: `npm run worker -- --queues jobs,exports`. Serves the given task queues until
 * SIGINT/SIGTERM, then drains: running activities get WORKER_SHUTDOWN_GRACE_MS to finish before they are
 * handed back to the server (with their last checkpoint) for another worker. A worker that serves `jobs`
 * also runs the outbox relay (OUTBOX_RELAY), which starts the workflows of the jobs the API records.
 */
import { parseArgs } from 'node:util';
import { NativeConnection, Runtime, type NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config/env.js';
import { createDatabase } from '../db/client.js';
import { migrateDatabase } from '../db/migrate.js';
import { DatasetsFileError } from '../datasets/file.js';
import { createLogger } from '../lib/logger.js';
import { startTracing } from '../lib/tracing.js';
import { jobKinds } from '../kinds/index.js';
import { startOutboxRelay, type OutboxRelay } from '../outbox/relay.js';
import { createStorage } from '../storage/index.js';
import { connectTemporal, type TemporalHandle } from '../temporal/client.js';
import { createWorkers } from './create-workers.js';
import { parseQueues } from './queues.js';
import { missingWorkerFlags, WORKER_NODE_FLAGS } from './node-flags.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { queues: { type: 'string' } }, strict: true });
  const config = loadConfig();
  const queues = parseQueues(values.queues, config.WORKER_QUEUES, jobKinds);
  if (!config.DATABASE_URL) throw new ConfigError(['DATABASE_URL: required by the worker']);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'offload-worker', format: config.LOG_FORMAT });
  // Off unless the OTEL_* variables ask for traces (src/lib/tracing.ts).
  const tracing = startTracing('offload-worker');
  const missing = missingWorkerFlags();
  if (missing.length > 0)
    log.warn(
      { missing, start: `node ${WORKER_NODE_FLAGS.join(' ')} dist/worker/index.js` },
      'started without the worker Node flags: peak memory will be higher (npm run worker sets them)',
    );
  if (config.WORKER_METRICS_PORT > 0) {
    // Must precede the first connection: the Runtime is created once per process.
    const bindAddress = `${config.HOST}:${config.WORKER_METRICS_PORT}`;
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress } } } });
    log.info({ bindAddress }, 'Temporal SDK metrics at /metrics');
  }
  await migrateDatabase(config.DATABASE_URL);
  const database = createDatabase(config.DATABASE_URL, {
    max: config.DATABASE_POOL_MAX,
    appName: 'offload-worker',
  });
  const connection = await NativeConnection.connect(config.temporal.connection as NativeConnectionOptions);
  const storage = createStorage(config);
  let temporal: TemporalHandle | undefined;
  let relay: OutboxRelay | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    // One worker per queue: parseQueues (or WORKER_QUEUES) names at least one, every one of them known.
    const workers = await createWorkers({
      config,
      queues,
      connection,
      database,
      storage,
      log,
      closers,
      tracing,
    });
    if (queues.includes('jobs') && config.OUTBOX_RELAY) {
      temporal = await connectTemporal(config.temporal);
      relay = await startOutboxRelay({ config, database, temporal: temporal.client, log });
    }
    log.info(
      { queues, prefix: config.TASK_QUEUE_PREFIX, address: config.temporal.connection.address },
      'worker started',
    );
    await Promise.all(workers.map((w) => w.run()));
    log.info('worker stopped');
  } finally {
    await relay?.stop();
    await temporal?.close();
    await connection.close();
    await Promise.allSettled(closers.map((close) => close()));
    await database.close();
    await tracing?.shutdown();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof DatasetsFileError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
