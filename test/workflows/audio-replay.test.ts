/**
 * Determinism of the audio workflow: a real history (a retry, a progress signal, a query, completion)
 * replays against the bundled workflow code, and a tampered history is refused.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/client';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AudioActivities, JobRecordActivities, NotifyActivities } from '../../src/activities/index.js';
import type { AudioResult, AudioWorkflowInput } from '../../src/shared/jobs.js';
import { AUDIO_QUEUE, WorkflowType } from '../../src/shared/temporal.js';
import { progressQuery, progressSignal } from '../../src/workflows/definitions.js';
import { recordHistory, replayOptions, startTimeSkippingEnv } from '../helpers/time-skipping.js';

let env: TestWorkflowEnvironment;
let history: History;
let workflowId: string;
let codePath: string;

const RESULT: AudioResult = {
  storageKey: 'x/speech.wav',
  fileName: 'speech.wav',
  contentType: 'audio/wav',
  bytes: 44,
  sha256: 'd'.repeat(64),
  format: 'wav',
  durationSeconds: 0,
  sampleRate: 22050,
  characters: 6,
  chunks: 1,
  engine: 'espeak-ng 1.51',
};

beforeAll(async () => {
  codePath = inject('workflowBundlePath');
  env = await startTimeSkippingEnv();
  const records: Pick<
    JobRecordActivities & NotifyActivities,
    'completeJob' | 'failJob' | 'cancelJob' | 'discardParts' | 'planNotifications'
  > = {
    completeJob: () => Promise.resolve(),
    failJob: () => Promise.resolve(),
    cancelJob: () => Promise.resolve(),
    discardParts: () => Promise.resolve(),
    planNotifications: () => Promise.resolve({ webhook: false, email: false }),
  };
  let signalled!: () => void;
  const progressSeen = new Promise<void>((resolve) => (signalled = resolve));
  const heavy: AudioActivities = {
    async synthesizeAudio() {
      if (Context.current().info.attempt === 1) throw ApplicationFailure.retryable('engine crashed', 'Error');
      await progressSeen;
      return RESULT;
    },
  };
  const jobId = `job_replay_${randomUUID()}`;
  workflowId = `offload-${jobId}`;
  const input: AudioWorkflowInput = {
    jobId,
    userId: 'usr_replay',
    tenantId: 't-replay',
    request: { text: 'Hello.', voice: 'en-us', rate: 1, pitch: 50, format: 'wav' },
    chunkChars: 2000,
    segmentChars: 20_000,
    policy: {
      heartbeatTimeoutMs: 60_000,
      startToCloseTimeoutMs: 3_600_000,
      maxAttempts: 3,
      initialRetryIntervalMs: 60_000,
      maxRetryIntervalMs: 120_000,
    },
  };
  history = await recordHistory(env, {
    workflowBundlePath: codePath,
    records,
    heavyQueue: AUDIO_QUEUE,
    heavy,
    workflowType: WorkflowType.audio,
    workflowId,
    input,
    async drive(handle) {
      await env.sleep(61_000);
      await handle.signal(progressSignal, { done: 3, total: 6, attempt: 2, at: Date.now(), rate: 1 });
      expect((await handle.query(progressQuery)).unit).toBe('characters');
      signalled();
      expect(await handle.result()).toEqual(RESULT);
    },
  });
});

afterAll(async () => {
  await env?.teardown();
});

describe('replaying the audio workflow', () => {
  it('replays the recorded history, also after a JSON round trip', async () => {
    const events = history.events ?? [];
    expect(events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name).toBe(WorkflowType.audio);
    expect(events.some((e) => e.workflowExecutionSignaledEventAttributes != null)).toBe(true);
    await expect(
      Worker.runReplayHistory(replayOptions(codePath), history, workflowId),
    ).resolves.toBeUndefined();
    const restored = historyFromJSON(JSON.parse(historyToJSON(history)));
    await expect(
      Worker.runReplayHistory(replayOptions(codePath), restored, workflowId),
    ).resolves.toBeUndefined();
  });

  it('detects a history that does not match the code', async () => {
    const json = historyToJSON(history).replaceAll('"synthesizeAudio"', '"exportDataset"');
    await expect(
      Worker.runReplayHistory(replayOptions(codePath), historyFromJSON(JSON.parse(json)), workflowId),
    ).rejects.toBeInstanceOf(DeterminismViolationError);
  });
});
