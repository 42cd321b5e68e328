/** Builds one Temporal Worker per task queue this process serves, sharing one connection. */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeConnection } from '@temporalio/worker';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import {
  createAudioActivities,
  createExportActivities,
  createJobRecordActivities,
  createNotifyActivities,
  type ActivityDeps,
} from '../activities/index.js';
import type { SpeechEngine } from '../audio/engine.js';
import { EspeakNgEngine } from '../audio/espeak-ng.js';
import { checkBinary } from '../audio/formats.js';
import { ConfigError, type Config } from '../config/env.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../lib/logger.js';
import { runsFromSource, siblingModule } from '../lib/module-file.js';
import type { TaskQueue } from '../shared/temporal.js';
import type { Storage } from '../storage/storage.js';

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
function workflowCode(config: Config): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const codePath = config.WORKFLOW_BUNDLE_PATH
    ? path.resolve(config.WORKFLOW_BUNDLE_PATH)
    : BUILT_WORKFLOW_BUNDLE && existsSync(BUILT_WORKFLOW_BUNDLE)
      ? BUILT_WORKFLOW_BUNDLE
      : undefined;
  return codePath ? { workflowBundle: { codePath } } : { workflowsPath: WORKFLOWS_PATH };
}

export interface WorkerSetOptions {
  config: Config;
  queues: TaskQueue[];
  connection: NativeConnection;
  database: Database;
  storage: Storage;
  log: Logger;
  workerName?: string;
  /** The speech engine for the `audio` queue; espeak-ng by default. */
  engine?: SpeechEngine;
}

/** A worker for `audio` refuses to start unless the engine and the encoders run on this machine. */
async function checkAudioTools(engine: SpeechEngine): Promise<void> {
  const install = 'apt-get install -y espeak-ng lame ffmpeg (or `npm run setup` as root)';
  const problems: string[] = [];
  const checks: [string, Promise<void>][] = [
    ['speech engine', engine.check()],
    ['MP3 encoder', checkBinary('lame', ['--version'], install)],
    ['Ogg/Opus encoder', checkBinary('ffmpeg', ['-hide_banner', '-version'], install)],
  ];
  for (const [what, check] of checks) {
    try {
      await check;
    } catch (err) {
      problems.push(`--queues audio: ${what}: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * Read lanes per export, within what the pool can hold: every export slot may reserve one connection
 * per lane while the part planning and bookkeeping need one more from the shared pool, so more lanes
 * than that could wait on each other forever.
 */
function readLanes(config: Config, database: Database, log: Logger): number {
  const fit = Math.floor((database.poolMax - 1) / config.EXPORTS_CONCURRENCY);
  const lanes = Math.max(1, Math.min(config.EXPORT_READ_LANES, fit));
  if (lanes < config.EXPORT_READ_LANES)
    log.warn(
      { EXPORT_READ_LANES: config.EXPORT_READ_LANES, DATABASE_POOL_MAX: database.poolMax, lanes },
      'fewer export read lanes than configured: the database pool is too small for EXPORTS_CONCURRENCY × lanes + 1',
    );
  return lanes;
}

export async function createWorkers(opts: WorkerSetOptions): Promise<Worker[]> {
  const { config } = opts;
  const deps: ActivityDeps = {
    database: opts.database,
    storage: opts.storage,
    log: opts.log,
    workerName: opts.workerName ?? `${os.hostname()}:${process.pid}`,
    export: {
      partRows: config.EXPORT_PART_ROWS,
      readLanes: opts.queues.includes('exports') ? readLanes(config, opts.database, opts.log) : 1,
      maxRowsPerSec: config.EXPORT_MAX_ROWS_PER_SEC,
      xlsxSheetRows: config.EXPORT_XLSX_SHEET_ROWS,
      pdfRowsPerPage: config.EXPORT_PDF_ROWS_PER_PAGE,
      databaseUrl: config.DATABASE_URL ?? '',
    },
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
    switch (queue) {
      case 'jobs':
        workers.push(
          await Worker.create({
            ...common,
            ...workflowCode(config),
            taskQueue: queue,
            activities: { ...createJobRecordActivities(deps), ...createNotifyActivities(deps) },
            maxConcurrentActivityTaskExecutions: config.JOBS_CONCURRENCY,
          }),
        );
        break;
      case 'exports':
        workers.push(
          await Worker.create({
            ...common,
            taskQueue: queue,
            activities: createExportActivities(deps),
            maxConcurrentActivityTaskExecutions: config.EXPORTS_CONCURRENCY,
          }),
        );
        break;
      case 'audio': {
        const engine = opts.engine ?? new EspeakNgEngine();
        await checkAudioTools(engine);
        workers.push(
          await Worker.create({
            ...common,
            taskQueue: queue,
            activities: createAudioActivities(deps, { engine, parallelism: config.AUDIO_PARALLELISM }),
            maxConcurrentActivityTaskExecutions: config.AUDIO_CONCURRENCY,
          }),
        );
        opts.log.info({ engine: engine.id }, 'audio engine ready');
        break;
      }
    }
  }
  return workers;
}
