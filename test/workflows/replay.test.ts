/**
 * Determinism: a real history of the export workflow (with a retry, a progress signal and a query) replays
 * against the bundled workflow code, also after a JSON round trip as the Temporal UI/CLI export it.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/client';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { noopRecords, recordHistory, replayOptions, startTimeSkippingEnv } from '../helpers/time-skipping.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExportActivities } from '../../src/activities/index.js';
import type { ExportResult, ExportWorkflowInput } from '../../src/shared/jobs.js';
import { EXPORTS_QUEUE, WorkflowType } from '../../src/shared/temporal.js';
import { progressQuery, progressSignal } from '../../src/workflows/definitions.js';

let env: TestWorkflowEnvironment;
let history: History;
let workflowId: string;
let codePath: string;

const RESULT: ExportResult = {
  storageKey: 'results/x.csv',
  fileName: 'orders.csv',
  contentType: 'text/csv; charset=utf-8',
  bytes: 10,
  rows: 1,
  sha256: 'b'.repeat(64),
};

beforeAll(async () => {
  codePath = inject('workflowBundlePath');
  env = await startTimeSkippingEnv();
  const records = noopRecords();
  let signalled!: () => void;
  const progressSeen = new Promise<void>((resolve) => (signalled = resolve));
  const heavy: ExportActivities = {
    async exportDataset() {
      if (Context.current().info.attempt === 1) {
        throw ApplicationFailure.retryable('first attempt fails', 'Transient');
      }
      await progressSeen;
      return RESULT;
    },
  };
  const jobId = `job_replay_${randomUUID()}`;
  workflowId = `offload-${jobId}`;
  const input: ExportWorkflowInput = {
    jobId,
    userId: 'usr_replay',
    tenantId: 't-replay',
    request: { dataset: 'orders', format: 'csv', columns: ['id', 'email'] },
    policy: {
      heartbeatTimeoutMs: 60_000,
      startToCloseTimeoutMs: 3_600_000,
      maxAttempts: 3,
      initialRetryIntervalMs: 60_000,
      maxRetryIntervalMs: 120_000,
    },
    scheduling: { priority: 3, fairnessKey: 'usr_replay', defaultMaxRunningHeavy: 2 },
  };
  history = await recordHistory(env, {
    workflowBundlePath: codePath,
    records,
    heavyQueue: EXPORTS_QUEUE,
    heavy,
    workflowType: WorkflowType.export,
    workflowId,
    input,
    async drive(handle) {
      // Let the retry (1 min of backoff) be skipped, then signal while attempt 2 waits, then finish.
      await env.sleep(61_000);
      await handle.signal(progressSignal, { done: 1, total: 2, attempt: 2, at: Date.now(), rate: 1 });
      await handle.query(progressQuery);
      signalled();
      expect(await handle.result()).toEqual(RESULT);
    },
  });
});

afterAll(async () => {
  await env?.teardown();
});

describe('replaying the export workflow', () => {
  it('recorded a full run: retry, signal and completion', () => {
    const events = history.events ?? [];
    expect(events.length).toBeGreaterThan(5);
    expect(events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name).toBe(WorkflowType.export);
    expect(events.some((e) => e.workflowExecutionSignaledEventAttributes != null)).toBe(true);
    const exportScheduled = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'exportDataset',
    );
    expect(
      events.find(
        (e) =>
          e.activityTaskStartedEventAttributes != null &&
          String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(exportScheduled?.eventId),
      )?.activityTaskStartedEventAttributes?.attempt,
    ).toBe(2);
    expect(events.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();
  });

  it('replays the fetched history against the workflow bundle', async () => {
    await expect(
      Worker.runReplayHistory(replayOptions(codePath), history, workflowId),
    ).resolves.toBeUndefined();
  });

  it('replays the history after a JSON round trip', async () => {
    const json = historyToJSON(history);
    const parsed: unknown = JSON.parse(json);
    // The JSON form is the one the CLI and UI export: camelCase fields and enum names as strings.
    expect(parsed).toMatchObject({
      events: expect.arrayContaining([
        expect.objectContaining({ eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED' }),
      ]) as unknown,
    });
    const restored = historyFromJSON(parsed);
    expect(restored.events).toHaveLength(history.events!.length);
    expect(historyToJSON(restored)).toBe(json);
    await expect(
      Worker.runReplayHistory(replayOptions(codePath), restored, workflowId),
    ).resolves.toBeUndefined();

    // And from a file, as a history exported once would be checked in and replayed in CI.
    const file = path.join(inject('scratchDir'), `history-${randomUUID()}.json`);
    await fs.writeFile(file, json);
    const fromFile = historyFromJSON(JSON.parse(await fs.readFile(file, 'utf8')));
    await expect(
      Worker.runReplayHistory(replayOptions(codePath), fromFile, workflowId),
    ).resolves.toBeUndefined();
  });

  it('detects a history that does not match the code', async () => {
    // Make the recorded run schedule the heavy activity under another name: the code would not do that.
    const json = historyToJSON(history).replaceAll('"exportDataset"', '"renderAudio"');
    const tampered = historyFromJSON(JSON.parse(json));
    await expect(
      Worker.runReplayHistory(replayOptions(codePath), tampered, workflowId),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
