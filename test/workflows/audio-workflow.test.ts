/**
 * The audio workflow on the Java time-skipping test server, with mocked activities: the heavy activity
 * runs on the `audio` queue; retries with hours of backoff finish in seconds of wall time; an attempt
 * that stops heartbeating is retried after the heartbeat timeout; an engine rejection is not retried; cancellation reaches the activity and deletes the parts.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import {
  ApplicationFailure,
  CancelledFailure,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { AudioActivities, JobRecordActivities, NotifyActivities } from '../../src/activities/index.js';
import type {
  AudioActivityInput,
  AudioResult,
  AudioWorkflowInput,
  HeavyActivityPolicy,
} from '../../src/shared/jobs.js';
import { AUDIO_QUEUE, JOBS_QUEUE, WorkflowType } from '../../src/shared/temporal.js';
import type { audioWorkflow } from '../../src/workflows/audio.js';
import { progressQuery } from '../../src/workflows/definitions.js';
import {
  resetRecordMocks,
  startJobWorkers,
  startTimeSkippingEnv,
  type JobWorkers,
} from '../helpers/time-skipping.js';

const HOUR = 3_600_000;

const records = {
  completeJob: vi.fn<JobRecordActivities['completeJob']>(),
  failJob: vi.fn<JobRecordActivities['failJob']>(),
  cancelJob: vi.fn<JobRecordActivities['cancelJob']>(),
  discardParts: vi.fn<JobRecordActivities['discardParts']>(),
  discardResult: vi.fn<JobRecordActivities['discardResult']>(),
  expireFailedParts: vi.fn<JobRecordActivities['expireFailedParts']>(),
  // Every job workflow ends by planning its notifications; these jobs ask for none.
  planNotifications: vi.fn<NotifyActivities['planNotifications']>(),
};
const heavy = { synthesizeAudio: vi.fn<AudioActivities['synthesizeAudio']>() };

let env: TestWorkflowEnvironment;
let workers: JobWorkers | undefined;

beforeAll(async () => {
  env = await startTimeSkippingEnv();
  workers = await startJobWorkers(env, {
    workflowBundlePath: inject('workflowBundlePath'),
    records,
    heavyQueue: AUDIO_QUEUE,
    heavy,
  });
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

beforeEach(() => resetRecordMocks(records));

function resultFor(input: AudioActivityInput): AudioResult {
  return {
    storageKey: `${input.jobId}/speech.mp3`,
    fileName: 'speech.mp3',
    contentType: 'audio/mpeg',
    bytes: 4000,
    sha256: 'c'.repeat(64),
    format: 'mp3',
    durationSeconds: 1.5,
    sampleRate: 22050,
    characters: input.request.text.length,
    chunks: 1,
    engine: 'espeak-ng 1.51',
  };
}

function makeInput(policy: Partial<HeavyActivityPolicy> = {}): AudioWorkflowInput {
  return {
    jobId: `job_test_${randomUUID()}`,
    userId: 'usr_test',
    tenantId: 't-test',
    request: { text: 'Hello there. How are you?', voice: 'en-us', rate: 1, pitch: 50, format: 'mp3' },
    chunkChars: 2000,
    segmentChars: 20_000,
    policy: {
      heartbeatTimeoutMs: 60_000,
      startToCloseTimeoutMs: 10 * HOUR,
      maxAttempts: 3,
      initialRetryIntervalMs: 1000,
      maxRetryIntervalMs: 10_000,
      ...policy,
    },
  };
}

function start(input: AudioWorkflowInput): Promise<WorkflowHandle<typeof audioWorkflow>> {
  return env.client.workflow.start<typeof audioWorkflow>(WorkflowType.audio, {
    workflowId: `offload-${input.jobId}`,
    taskQueue: JOBS_QUEUE,
    args: [input],
  });
}

async function failureOf(handle: WorkflowHandle): Promise<WorkflowFailedError> {
  const err: unknown = await handle.result().then(
    (r) => {
      throw new Error(`workflow succeeded with ${JSON.stringify(r)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return err as WorkflowFailedError;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('audioWorkflow on the time-skipping server', () => {
  it('retries on the audio queue with hours of backoff in seconds and records the result once', async () => {
    const seen: { attempt: number; queue: string }[] = [];
    heavy.synthesizeAudio.mockImplementation((input) => {
      const { attempt, taskQueue } = Context.current().info;
      seen.push({ attempt, queue: taskQueue });
      if (attempt < 3)
        return Promise.reject(ApplicationFailure.retryable(`espeak-ng crashed (${attempt})`, 'Error'));
      return Promise.resolve(resultFor(input));
    });
    const input = makeInput({ initialRetryIntervalMs: HOUR, maxRetryIntervalMs: 4 * HOUR });
    const wallStart = Date.now();
    const serverStart = await env.currentTimeMs();
    const result = await (await start(input)).result();

    expect(result).toEqual(
      resultFor({ jobId: input.jobId, request: input.request, chunkChars: 2000, segmentChars: 20_000 }),
    );
    expect(seen).toEqual([1, 2, 3].map((attempt) => ({ attempt, queue: AUDIO_QUEUE })));
    expect(heavy.synthesizeAudio).toHaveBeenLastCalledWith({
      jobId: input.jobId,
      request: input.request,
      chunkChars: 2000,
      segmentChars: 20_000,
    });
    expect(records.completeJob).toHaveBeenCalledTimes(1);
    expect(records.completeJob).toHaveBeenCalledWith(input.jobId, result);
    expect(records.discardParts).toHaveBeenCalledWith(input.jobId);
    expect(records.failJob).not.toHaveBeenCalled();
    expect(Date.now() - wallStart).toBeLessThan(30_000);
    expect((await env.currentTimeMs()) - serverStart).toBeGreaterThanOrEqual(3 * HOUR);
  });

  it('retries an attempt that stops heartbeating once the heartbeat timeout passes', async () => {
    const attempts: number[] = [];
    heavy.synthesizeAudio.mockImplementation(async (input) => {
      const ctx = Context.current();
      attempts.push(ctx.info.attempt);
      if (ctx.info.attempt === 1) {
        // A hung engine: one heartbeat, then silence until the server gives up on this attempt.
        ctx.heartbeat({ chunksStored: 3 });
        await ctx.cancelled;
      }
      expect(ctx.info.heartbeatDetails).toEqual({ chunksStored: 3 });
      return resultFor(input);
    });
    // The test server does not skip time while an activity runs, so the heartbeat timeout is real (1 s);
    // the hour of backoff after it is skipped.
    const input = makeInput({
      heartbeatTimeoutMs: 1000,
      initialRetryIntervalMs: HOUR,
      maxRetryIntervalMs: 2 * HOUR,
    });
    const serverStart = await env.currentTimeMs();
    const handle = await start(input);
    const result = await handle.result();

    expect(result.characters).toBe(input.request.text.length);
    expect(attempts).toEqual([1, 2]);
    expect((await env.currentTimeMs()) - serverStart).toBeGreaterThanOrEqual(HOUR);
    const { events } = await handle.fetchHistory();
    const started = events?.find((e) => e.activityTaskStartedEventAttributes != null);
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(2);
    expect(await handle.query(progressQuery)).toMatchObject({
      state: 'succeeded',
      unit: 'characters',
      percent: 100,
    });
  });

  it('fails the job when every attempt times out', async () => {
    heavy.synthesizeAudio.mockImplementation(async () => {
      await Context.current().cancelled;
      throw new Error('unreachable');
    });
    const input = makeInput({
      heartbeatTimeoutMs: 1000,
      initialRetryIntervalMs: HOUR,
      maxRetryIntervalMs: 2 * HOUR,
      maxAttempts: 2,
    });
    const handle = await start(input);
    const err = await failureOf(handle);
    expect(heavy.synthesizeAudio).toHaveBeenCalledTimes(2);
    expect(records.failJob).toHaveBeenCalledTimes(1);
    expect(records.failJob.mock.calls[0]![1].type).toBe('TimeoutFailure');
    expect(records.discardParts).toHaveBeenCalledWith(input.jobId);
    expect(records.completeJob).not.toHaveBeenCalled();
    expect(err.cause).toBeInstanceOf(ApplicationFailure);
  });

  it('does not retry when the engine rejects the input', async () => {
    heavy.synthesizeAudio.mockRejectedValue(
      ApplicationFailure.nonRetryable('espeak-ng has no voice "xx"', 'EngineRejected'),
    );
    const input = makeInput({ maxAttempts: 5 });
    const err = await failureOf(await start(input));
    expect(heavy.synthesizeAudio).toHaveBeenCalledTimes(1);
    expect(records.failJob).toHaveBeenCalledWith(input.jobId, {
      type: 'EngineRejected',
      message: 'espeak-ng has no voice "xx"',
    });
    expect((err.cause as ApplicationFailure).type).toBe('EngineRejected');
  });

  it('cancels the running synthesis, records the cancellation and deletes the parts', async () => {
    let beats = 0;
    let activityError: unknown;
    heavy.synthesizeAudio.mockImplementation(async () => {
      const ctx = Context.current();
      try {
        for (;;) {
          ctx.heartbeat({ chunksStored: ++beats });
          await ctx.sleep(100);
        }
      } catch (err) {
        activityError = err;
        throw err;
      }
    });
    const input = makeInput();
    const handle = await start(input);
    await waitFor('the activity to heartbeat', () => beats >= 3);
    await handle.cancel();
    await waitFor('the parts to be discarded', () =>
      records.discardParts.mock.calls.some(([jobId]) => jobId === input.jobId),
    );
    const err = await failureOf(handle);
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    expect(activityError).toBeInstanceOf(CancelledFailure);
    expect(records.cancelJob).toHaveBeenCalledWith(input.jobId);
    expect(records.discardParts).toHaveBeenCalledTimes(1);
    expect(records.failJob).not.toHaveBeenCalled();
    expect(await handle.query(progressQuery)).toMatchObject({ state: 'cancelled', unit: 'characters' });
  });
});
