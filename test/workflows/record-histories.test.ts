/**
 * Records the histories that later releases must replay (test/workflows/release-histories.test.ts).
 * Skipped unless asked for: `npm run histories:record` runs it with RECORD_HISTORIES=1 and writes
 * test/workflows/histories/<version>/<scenario>.json. Run it on the release a deployment runs now,
 * before changing a workflow, and commit the files: they are what running workflows have recorded.
 *
 * The scenarios cover what is open at an upgrade: a job waiting out a retry, a heavy activity running,
 * finished jobs (success, failure, cancellation) whose retention timer still sleeps, and an audio job.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type {
  AudioResult,
  AudioWorkflowInput,
  ExportResult,
  ExportWorkflowInput,
  HeavyActivityPolicy,
} from '../../src/shared/jobs.js';
import { AUDIO_QUEUE, EXPORTS_QUEUE, WorkflowType, retentionWorkflowId } from '../../src/shared/temporal.js';
import { progressQuery, progressSignal } from '../../src/workflows/definitions.js';
import { ROOT } from '../helpers/compose.js';
import { noopRecords, recordHistory, startTimeSkippingEnv } from '../helpers/time-skipping.js';

const RECORD = process.env.RECORD_HISTORIES === '1';
const VERSION = (
  JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
export const HISTORIES_DIR = path.join(import.meta.dirname, 'histories');

const POLICY: HeavyActivityPolicy = {
  heartbeatTimeoutMs: 60_000,
  startToCloseTimeoutMs: 3_600_000,
  maxAttempts: 3,
  initialRetryIntervalMs: 60_000,
  maxRetryIntervalMs: 120_000,
};
const SCHEDULING = { priority: 3, fairnessKey: 'usr_history', defaultMaxRunningHeavy: 2 };
const EXPORT_RESULT: ExportResult = {
  storageKey: 'job/orders.csv',
  fileName: 'orders.csv',
  contentType: 'text/csv; charset=utf-8',
  bytes: 10,
  rows: 1,
  sha256: 'b'.repeat(64),
};
const AUDIO_RESULT: AudioResult = {
  storageKey: 'job/speech.mp3',
  fileName: 'speech.mp3',
  contentType: 'audio/mpeg',
  bytes: 44,
  sha256: 'd'.repeat(64),
  format: 'mp3',
  durationSeconds: 1,
  sampleRate: 22050,
  characters: 6,
  chunks: 1,
  engine: 'espeak-ng',
};

const records = noopRecords();

let env: TestWorkflowEnvironment;
let codePath: string;

beforeAll(async () => {
  if (!RECORD) return;
  codePath = inject('workflowBundlePath');
  await fs.mkdir(path.join(HISTORIES_DIR, VERSION), { recursive: true });
});

// A server of its own per scenario: time skipped for one (a retention timer days away) must not run
// another's workflows ahead.
beforeEach(async () => {
  if (RECORD) env = await startTimeSkippingEnv();
});

afterEach(async () => {
  await env?.teardown();
});

async function save(scenario: string, workflowId: string, history: History): Promise<void> {
  const file = path.join(HISTORIES_DIR, VERSION, `${scenario}.json`);
  const json = JSON.parse(historyToJSON(history)) as object;
  await fs.writeFile(file, `${JSON.stringify({ workflowId, ...json }, null, 1)}\n`);
}

function exportInput(jobId: string): ExportWorkflowInput {
  return {
    jobId,
    userId: 'usr_history',
    tenantId: 't-history',
    request: { dataset: 'orders', format: 'csv', columns: ['id', 'email'] },
    policy: POLICY,
    retentionMs: 7 * 24 * 3600_000,
    scheduling: SCHEDULING,
  };
}

/** Records one export scenario; `heavy` is the export activity, `drive` steers the run. */
async function recordExport(
  scenario: string,
  exportDataset: () => Promise<ExportResult>,
  drive: (handle: WorkflowHandle) => Promise<void>,
): Promise<string> {
  const jobId = `job_history_${randomUUID()}`;
  const workflowId = `offload-${jobId}`;
  const history = await recordHistory(env, {
    workflowBundlePath: codePath,
    records,
    heavyQueue: EXPORTS_QUEUE,
    heavy: { exportDataset },
    workflowType: WorkflowType.export,
    workflowId,
    input: exportInput(jobId),
    drive,
  });
  await save(scenario, workflowId, history);
  if (scenario === 'export-succeeded') {
    // The retention workflow it started sleeps until the result expires: open at any upgrade.
    const retention = env.client.workflow.getHandle(retentionWorkflowId(jobId));
    await save('retention-sleeping', retention.workflowId, await retention.fetchHistory());
  }
  return workflowId;
}

describe.runIf(RECORD)(`recording the histories of release ${VERSION}`, () => {
  it('export-succeeded: a retry, a progress signal and a query, then success', async () => {
    let signalled!: () => void;
    const progressSeen = new Promise<void>((resolve) => (signalled = resolve));
    await recordExport(
      'export-succeeded',
      async () => {
        if (Context.current().info.attempt === 1) throw ApplicationFailure.retryable('first attempt fails');
        await progressSeen;
        return EXPORT_RESULT;
      },
      async (handle) => {
        await env.sleep(61_000);
        await handle.signal(progressSignal, { done: 1, total: 2, attempt: 2, at: Date.now(), rate: 1 });
        await handle.query(progressQuery);
        signalled();
        expect(await handle.result()).toEqual(EXPORT_RESULT);
      },
    );
  });

  it('export-failed: a non-retryable failure', async () => {
    await recordExport(
      'export-failed',
      () => Promise.reject(ApplicationFailure.nonRetryable('statement timeout', 'QueryFailed')),
      async (handle) => {
        await expect(handle.result()).rejects.toThrow();
      },
    );
  });

  it('export-cancelled: cancelled while the heavy activity heartbeats', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    await recordExport(
      'export-cancelled',
      async () => {
        started();
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat({ partsDone: 0 });
          await Promise.race([ctx.sleep(50), ctx.cancelled]);
        }
      },
      async (handle) => {
        await running;
        await handle.cancel();
        await expect(handle.result()).rejects.toThrow();
      },
    );
  });

  it('audio-succeeded: a retry, then success', async () => {
    const jobId = `job_history_${randomUUID()}`;
    const workflowId = `offload-${jobId}`;
    const input: AudioWorkflowInput = {
      jobId,
      userId: 'usr_history',
      tenantId: 't-history',
      request: { text: 'Hello.', voice: 'en-us', rate: 1, pitch: 50, format: 'mp3' },
      chunkChars: 2000,
      segmentChars: 20_000,
      policy: POLICY,
      scheduling: SCHEDULING,
      retentionMs: 7 * 24 * 3600_000,
    };
    const history = await recordHistory(env, {
      workflowBundlePath: codePath,
      records,
      heavyQueue: AUDIO_QUEUE,
      heavy: {
        synthesizeAudio() {
          if (Context.current().info.attempt === 1)
            return Promise.reject(ApplicationFailure.retryable('engine crashed'));
          return Promise.resolve(AUDIO_RESULT);
        },
      },
      workflowType: WorkflowType.audio,
      workflowId,
      input,
      async drive(handle) {
        await env.sleep(61_000);
        expect(await handle.result()).toEqual(AUDIO_RESULT);
      },
    });
    await save('audio-succeeded', workflowId, history);
  });
  it('export-running: the heavy activity still running when the history is taken', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const workflowId = await recordExport(
      'export-running',
      async () => {
        started();
        const ctx = Context.current();
        await ctx.cancelled.catch(() => undefined);
        throw ctx.cancellationSignal.reason;
      },
      async (handle) => {
        await running;
        await handle.signal(progressSignal, { done: 5, total: 10, attempt: 1, at: Date.now(), rate: 5 });
        await handle.query(progressQuery);
      },
    );
    // Taken: now end it, so that nothing of it outlives the recording.
    await env.client.workflow.getHandle(workflowId).terminate('history recorded');
  });
});
