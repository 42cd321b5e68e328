/**
 * Builds one Temporal Worker per task queue this process serves, sharing one connection: `jobs` runs the
 * workflows and light activities, every other queue the heavy activities of the job kinds on it.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { NativeConnection } from '@temporalio/worker';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createJobRecordActivities, createNotifyActivities, type ActivityDeps } from '../activities/index.js';
import { ConfigError, type Config } from '../config/env.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../lib/logger.js';
import { NO_TRACING, type Tracing } from '../lib/tracing.js';
import { runsFromSource, siblingModule } from '../lib/module-file.js';
import { jobKinds } from '../kinds/index.js';
import { JOBS_QUEUE, prefixedQueue, type TaskQueue } from '../shared/temporal.js';
import type { Storage } from '../storage/storage.js';
import { WORKFLOW_INTERCEPTOR_MODULES } from './workflow-interceptors.js';

/** The workflow sources a worker bundles at start when it has no prebuilt bundle. */
export const WORKFLOWS_PATH = fileURLToPath(siblingModule(import.meta.url, '../workflows/index'));

/**
 * The bundle `npm run build` writes beside the compiled code (dist/workflow-bundle.js), so that a
 * production worker starts without bundling. Sources have none: tsx runs bundle at start.
 */
export const BUILT_WORKFLOW_BUNDLE = runsFromSource(import.meta.url)
  ? undefined
  : fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

/** WORKFLOW_BUNDLE_PATH, else the built bundle when it exists, else the sources to bundle now. */
function workflowCode(
  config: Config,
): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> & { workflowModules?: string[] } {
  const codePath = config.WORKFLOW_BUNDLE_PATH
    ? path.resolve(config.WORKFLOW_BUNDLE_PATH)
    : BUILT_WORKFLOW_BUNDLE && existsSync(BUILT_WORKFLOW_BUNDLE)
      ? BUILT_WORKFLOW_BUNDLE
      : undefined;
  return codePath
    ? { workflowBundle: { codePath } }
    : { workflowsPath: WORKFLOWS_PATH, workflowModules: WORKFLOW_INTERCEPTOR_MODULES };
}

/**
 * What traces a worker's work: spans of every workflow (through the sink the bundled interceptors call)
 * and of every activity, in the trace the workflow's start carried.
 */
export function tracingOptions(
  tracing: Pick<Tracing, 'processor' | 'resource'>,
  workflowModules?: string[],
): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
      ...(workflowModules ? { workflowModules } : {}),
    },
    sinks: { exporter: makeWorkflowExporter(tracing.processor, tracing.resource) },
  };
}

export interface WorkerSetOptions {
  config: Config;
  /** Base queue names (`jobs`, `exports`, …); TASK_QUEUE_PREFIX goes before each. */
  queues: TaskQueue[];
  connection: NativeConnection;
  database: Database;
  storage: Storage;
  log: Logger;
  workerName?: string;
  /** The process's tracing (src/lib/tracing.ts); none records nothing. */
  tracing?: Pick<Tracing, 'processor' | 'resource'>;
  /** Where the kinds' `close` functions go (e.g. the export kind's source pools), to call once the workers stopped. */
  closers?: (() => Promise<void>)[];
}

export async function createWorkers(opts: WorkerSetOptions): Promise<Worker[]> {
  const { config, log } = opts;
  const tracing = opts.tracing ?? NO_TRACING;
  const deps: ActivityDeps = {
    database: opts.database,
    storage: opts.storage,
    log,
    workerName: opts.workerName ?? `${os.hostname()}:${process.pid}`,
    outageWaitMs: config.HEAVY_OUTAGE_WAIT_MS,
    notify: {
      publicUrl: config.PUBLIC_URL ?? `http://${config.HOST}:${config.PORT}`,
      linkTtlSeconds: config.DOWNLOAD_LINK_TTL_SECONDS,
      net: { allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, allowHosts: config.WEBHOOK_ALLOW_HOSTS },
      webhookTimeoutMs: config.WEBHOOK_TIMEOUT_MS,
      smtpUrl: config.SMTP_URL,
      mailFrom: config.MAIL_FROM,
    },
  };
  const common: Partial<WorkerOptions> = {
    connection: opts.connection,
    namespace: config.temporal.namespace,
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_MS,
    // Heartbeats reach the server at least every second, so a checkpoint is never more than a second old
    // and a cancellation reaches the activity within about a second.
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
  };
  const workers: Worker[] = [];
  for (const queue of opts.queues) {
    const taskQueue = prefixedQueue(config.TASK_QUEUE_PREFIX, queue);
    if (queue === JOBS_QUEUE) {
      const { workflowModules, ...code } = workflowCode(config);
      workers.push(
        await Worker.create({
          ...common,
          ...code,
          ...tracingOptions(tracing, workflowModules),
          taskQueue,
          activities: { ...createJobRecordActivities(deps), ...createNotifyActivities(deps) },
          maxConcurrentActivityTaskExecutions: config.JOBS_CONCURRENCY,
        }),
      );
      continue;
    }
    const onQueue = jobKinds.onQueue(queue);
    if (onQueue.length === 0)
      throw new ConfigError([
        `--queues: no job kind runs on ${queue}; known: ${jobKinds.queues().join(', ')}`,
      ]);
    // Kinds sharing a heavy queue share its worker: their activities together, the largest concurrency.
    let activities: object = {};
    let concurrency = 1;
    for (const kind of onQueue) {
      const half = await (await kind.worker()).create({ config, database: opts.database, deps, log });
      activities = { ...activities, ...half.activities };
      if (half.close) opts.closers?.push(half.close);
      concurrency = Math.max(concurrency, half.concurrency);
    }
    workers.push(
      await Worker.create({
        ...common,
        ...tracingOptions(tracing),
        taskQueue,
        activities,
        maxConcurrentActivityTaskExecutions: concurrency,
      }),
    );
  }
  return workers;
}
