/**
 * The export workflow on the Java time-skipping test server, with mocked activities: retries with hours of
 * backoff finish in seconds, failures are recorded with the last error, progress is queryable, and
 * cancellation reaches the heavy activity and is recorded.
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
import {
  resetRecordMocks,
  startJobWorkers,
  startTimeSkippingEnv,
  type JobWorkers,
} from '../helpers/time-skipping.js';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { ExportActivities, JobRecordActivities, NotifyActivities } from '../../src/activities/index.js';
import type {
  ExportActivityInput,
  ExportResult,
  ExportWorkflowInput,
  HeavyActivityPolicy,
  ProgressReport,
} from '../../src/shared/jobs.js';
import {
  EXPORTS_QUEUE,
  JOBS_QUEUE,
  PROGRESS_QUERY,
  PROGRESS_SIGNAL,
  partsRetentionWorkflowId,
  WorkflowType,
} from '../../src/shared/temporal.js';
import type { exportWorkflow } from '../../src/workflows/export.js';
import { progressQuery, progressSignal } from '../../src/workflows/definitions.js';

const HOUR = 3_600_000;

const records = {
  completeJob: vi.fn<JobRecordActivities['completeJob']>(),
  failJob: vi.fn<JobRecordActivities['failJob']>(),
  cancelJob: vi.fn<JobRecordActivities['cancelJob']>(),
  discardParts: vi.fn<JobRecordActivities['discardParts']>(),
  discardResult: vi.fn<JobRecordActivities['discardResult']>(),
  expireFailedParts: vi.fn<JobRecordActivities['expireFailedParts']>(),
  planNotifications: vi.fn<NotifyActivities['planNotifications']>(),
  deliverWebhook: vi.fn<NotifyActivities['deliverWebhook']>(),
  sendJobEmail: vi.fn<NotifyActivities['sendJobEmail']>(),
  acquireHeavySlot: vi.fn<JobRecordActivities['acquireHeavySlot']>(),
  releaseHeavySlot: vi.fn<JobRecordActivities['releaseHeavySlot']>(),
};
const heavy = { exportDataset: vi.fn<ExportActivities['exportDataset']>() };

let env: TestWorkflowEnvironment;
let workers: JobWorkers | undefined;

beforeAll(async () => {
  env = await startTimeSkippingEnv();
  workers = await startJobWorkers(env, {
    workflowBundlePath: inject('workflowBundlePath'),
    records,
    heavyQueue: EXPORTS_QUEUE,
    heavy,
  });
});

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

beforeEach(() => resetRecordMocks(records));

function resultFor(input: ExportActivityInput): ExportResult {
  return {
    storageKey: `results/${input.jobId}.csv`,
    fileName: `orders-${input.jobId}.csv`,
    contentType: 'text/csv; charset=utf-8',
    bytes: 1234,
    rows: 200,
    sha256: 'a'.repeat(64),
  };
}

function makeInput(policy: Partial<HeavyActivityPolicy> = {}): ExportWorkflowInput {
  const jobId = `job_test_${randomUUID()}`;
  return {
    jobId,
    userId: 'usr_test',
    tenantId: 't-test',
    request: { dataset: 'orders', format: 'csv' },
    policy: {
      heartbeatTimeoutMs: 60_000,
      startToCloseTimeoutMs: 10 * HOUR,
      maxAttempts: 3,
      initialRetryIntervalMs: 1000,
      maxRetryIntervalMs: 10_000,
      ...policy,
    },
    scheduling: { priority: 2, fairnessKey: 'usr_test', defaultMaxRunningHeavy: 2 },
  };
}

async function start(input: ExportWorkflowInput): Promise<WorkflowHandle<typeof exportWorkflow>> {
  return env.client.workflow.start<typeof exportWorkflow>(WorkflowType.export, {
    workflowId: `offload-${input.jobId}`,
    taskQueue: JOBS_QUEUE,
    args: [input],
  });
}

/** The workflow's failure, asserting that result() rejects with a WorkflowFailedError. */
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

async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Signal a progress report and wait until a workflow task has processed it. */
async function report(handle: WorkflowHandle, r: ProgressReport): Promise<void> {
  await handle.signal(progressSignal, r);
  await waitFor('the signal to be processed', async () => {
    const { events } = await handle.fetchHistory();
    const list = events ?? [];
    const lastSignal = list.findLastIndex((e) => e.workflowExecutionSignaledEventAttributes != null);
    const lastTaskDone = list.findLastIndex((e) => e.workflowTaskCompletedEventAttributes != null);
    return lastSignal >= 0 && lastTaskDone > lastSignal;
  });
}

describe('exportWorkflow on the time-skipping server', () => {
  it('sanity: the shared names are what the workflow registers', () => {
    expect(progressQuery.name).toBe(PROGRESS_QUERY);
    expect(progressSignal.name).toBe(PROGRESS_SIGNAL);
    expect(env.supportsTimeSkipping).toBe(true);
  });

  it('retries with hours of backoff in seconds of wall time and records the result once', async () => {
    const attempts: number[] = [];
    heavy.exportDataset.mockImplementation((input) => {
      const { attempt } = Context.current().info;
      attempts.push(attempt);
      if (attempt < 3) {
        return Promise.reject(
          ApplicationFailure.retryable(`database went away (attempt ${attempt})`, 'Transient'),
        );
      }
      return Promise.resolve(resultFor(input));
    });
    const input = makeInput({ initialRetryIntervalMs: HOUR, maxRetryIntervalMs: 4 * HOUR, maxAttempts: 3 });

    const wallStart = Date.now();
    const serverStart = await env.currentTimeMs();
    const handle = await start(input);
    const result = await handle.result();
    const wallMs = Date.now() - wallStart;
    const serverMs = (await env.currentTimeMs()) - serverStart;

    const expected = resultFor({ jobId: input.jobId, tenantId: input.tenantId, request: input.request });
    expect(result).toEqual(expected);
    expect(attempts).toEqual([1, 2, 3]);
    expect(heavy.exportDataset).toHaveBeenCalledTimes(3);
    expect(heavy.exportDataset).toHaveBeenLastCalledWith({
      jobId: input.jobId,
      tenantId: input.tenantId,
      request: input.request,
    });
    expect(records.completeJob).toHaveBeenCalledTimes(1);
    expect(records.completeJob).toHaveBeenCalledWith(input.jobId, expected);
    expect(records.discardParts).toHaveBeenCalledWith(input.jobId);
    expect(records.failJob).not.toHaveBeenCalled();
    expect(records.cancelJob).not.toHaveBeenCalled();

    // Backoff 1 h then 2 h (coefficient 2): at least 3 h of server time, in well under 30 s of real time.
    expect(wallMs).toBeLessThan(30_000);
    expect(serverMs).toBeGreaterThanOrEqual(3 * HOUR);
    const { events } = await handle.fetchHistory();
    const first = events?.[0]?.eventTime;
    const last = events?.at(-1)?.eventTime;
    expect(first && last).toBeTruthy();
    const historyMs = (Number(last!.seconds) - Number(first!.seconds)) * 1000;
    expect(historyMs).toBeGreaterThanOrEqual(3 * HOUR - 1000);
    // The last attempt's start is recorded with its attempt number.
    const scheduled = events?.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'exportDataset',
    );
    const started = events?.find(
      (e) =>
        e.activityTaskStartedEventAttributes != null &&
        String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(scheduled?.eventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(3);

    // After success the query answers a finished, complete job.
    const progress = await handle.query(progressQuery);
    expect(progress).toMatchObject({ state: 'succeeded', percent: 100, etaSeconds: null });
  });

  it('waits for a heavy slot before the export and gives it back after, on success and on failure', async () => {
    const order: string[] = [];
    let busy = 3;
    records.acquireHeavySlot.mockImplementation((req) => {
      order.push(`acquire:${req.userId}:${req.kind}:${req.defaultLimit}`);
      if (busy-- > 0) {
        return Promise.reject(ApplicationFailure.retryable('user runs 2 of 2 heavy jobs', 'HeavySlotBusy'));
      }
      return Promise.resolve();
    });
    records.releaseHeavySlot.mockImplementation((jobId) => {
      order.push(`release:${jobId}`);
      return Promise.resolve();
    });
    heavy.exportDataset.mockImplementation((input) => {
      order.push('export');
      expect(Context.current().info.priority).toMatchObject({ priorityKey: 2, fairnessKey: 'usr_test' });
      return Promise.resolve(resultFor(input));
    });
    const input = makeInput();
    await (await start(input)).result();
    expect(order).toEqual([
      ...Array<string>(4).fill('acquire:usr_test:export:2'),
      'export',
      `release:${input.jobId}`,
    ]);

    order.length = 0;
    heavy.exportDataset.mockImplementation(() => {
      order.push('export');
      return Promise.reject(ApplicationFailure.nonRetryable('no such dataset', 'UnknownDataset'));
    });
    const failing = makeInput();
    await failureOf(await start(failing));
    expect(order).toEqual(['acquire:usr_test:export:2', 'export', `release:${failing.jobId}`]);
    expect(records.failJob).toHaveBeenCalledTimes(1);
  });

  it('fails the job with the last error once attempts are exhausted', async () => {
    heavy.exportDataset.mockImplementation(() => {
      const { attempt } = Context.current().info;
      return Promise.reject(ApplicationFailure.retryable(`disk full on attempt ${attempt}`, 'DiskFull'));
    });
    const input = makeInput({ initialRetryIntervalMs: HOUR, maxRetryIntervalMs: 4 * HOUR, maxAttempts: 3 });
    const handle = await start(input);
    const err = await failureOf(handle);

    expect(heavy.exportDataset).toHaveBeenCalledTimes(3);
    expect(records.failJob).toHaveBeenCalledTimes(1);
    expect(records.failJob).toHaveBeenCalledWith(input.jobId, {
      type: 'DiskFull',
      message: 'disk full on attempt 3',
    });
    // The parts stay for a redrive from the checkpoint.
    expect(records.discardParts).not.toHaveBeenCalled();
    expect(records.completeJob).not.toHaveBeenCalled();
    expect(records.cancelJob).not.toHaveBeenCalled();

    // The workflow itself fails (not retried) with the same type and the last message.
    expect(err.cause).toBeInstanceOf(ApplicationFailure);
    const cause = err.cause as ApplicationFailure;
    expect(cause.type).toBe('DiskFull');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toBe(`${handle.workflowId}: disk full on attempt 3`);
    expect(await handle.query(progressQuery)).toMatchObject({
      state: 'failed',
      message: 'disk full on attempt 3',
    });
  });

  it('does not retry a non-retryable UnknownDataset failure', async () => {
    heavy.exportDataset.mockRejectedValue(
      ApplicationFailure.nonRetryable('dataset "payroll" does not exist', 'UnknownDataset'),
    );
    const input = makeInput({ maxAttempts: 5 });
    const handle = await start(input);
    const err = await failureOf(handle);

    expect(heavy.exportDataset).toHaveBeenCalledTimes(1);
    expect(records.failJob).toHaveBeenCalledTimes(1);
    expect(records.failJob).toHaveBeenCalledWith(input.jobId, {
      type: 'UnknownDataset',
      message: 'dataset "payroll" does not exist',
    });
    expect(records.discardParts).not.toHaveBeenCalled();
    expect((err.cause as ApplicationFailure).type).toBe('UnknownDataset');
  });

  it('answers the progress query from signalled reports, ignoring reports of older attempts', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let activityStarted = false;
    heavy.exportDataset.mockImplementation(async (input) => {
      activityStarted = true;
      await Promise.race([released, Context.current().cancelled]);
      return resultFor(input);
    });
    const input = makeInput();
    const handle = await start(input);
    try {
      expect(await handle.query(progressQuery)).toMatchObject({ state: 'queued', percent: 0, total: null });
      await waitFor('the heavy activity to start', () => activityStarted);

      const at = Date.now();
      await report(handle, { done: 50, total: 200, attempt: 1, at, rate: 10 });
      expect(await handle.query(progressQuery)).toEqual({
        state: 'running',
        done: 50,
        total: 200,
        unit: 'rows',
        percent: 25,
        attempt: 1,
        etaSeconds: 15,
        message: null,
        updatedAt: new Date(at).toISOString(),
      });

      // A second attempt got further...
      await report(handle, { done: 100, total: 200, attempt: 2, at: at + 1000, rate: 20 });
      expect(await handle.query(progressQuery)).toMatchObject({
        done: 100,
        percent: 50,
        attempt: 2,
        etaSeconds: 5,
      });
      // ...and a late report from the first attempt does not move it back.
      await report(handle, { done: 60, total: 200, attempt: 1, at: at + 2000, rate: 10 });
      expect(await handle.query(progressQuery)).toMatchObject({
        state: 'running',
        done: 100,
        percent: 50,
        attempt: 2,
        etaSeconds: 5,
        updatedAt: new Date(at + 1000).toISOString(),
      });
    } finally {
      // Also on failure, so the worker is not left with an activity that never ends.
      release();
    }
    await handle.result();
    expect(await handle.query(progressQuery)).toMatchObject({
      state: 'succeeded',
      done: 200,
      total: 200,
      percent: 100,
      etaSeconds: null,
    });
    expect(records.completeJob).toHaveBeenCalledTimes(1);
  });

  it('cancels the heartbeating activity, records the cancellation and discards parts', async () => {
    let beats = 0;
    let activityError: unknown;
    heavy.exportDataset.mockImplementation(async () => {
      const ctx = Context.current();
      try {
        for (;;) {
          ctx.heartbeat({ beats: ++beats });
          await ctx.sleep(100);
        }
      } catch (err) {
        activityError = err;
        throw err;
      }
    });
    const input = makeInput({ heartbeatTimeoutMs: 60_000 });
    const handle = await start(input);
    await waitFor('the activity to heartbeat', () => beats >= 3);

    await handle.cancel();
    // Wait for the cleanup before awaiting the result, so no time is skipped while the activity still runs.
    await waitFor('the cancellation to be recorded', () =>
      records.discardParts.mock.calls.some(([jobId]) => jobId === input.jobId),
    );

    const err = await failureOf(handle);
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    expect(activityError).toBeInstanceOf(CancelledFailure);
    expect(heavy.exportDataset).toHaveBeenCalledTimes(1);
    expect(records.cancelJob).toHaveBeenCalledTimes(1);
    expect(records.cancelJob).toHaveBeenCalledWith(input.jobId);
    expect(records.discardParts).toHaveBeenCalledTimes(1);
    expect(records.discardParts).toHaveBeenCalledWith(input.jobId);
    expect(records.failJob).not.toHaveBeenCalled();
    expect(records.completeJob).not.toHaveBeenCalled();

    // The heavy activity ended as cancelled (WAIT_CANCELLATION_COMPLETED), not as a failure or timeout.
    const { events } = await handle.fetchHistory();
    expect(events?.some((e) => e.activityTaskCanceledEventAttributes != null)).toBe(true);
    expect(events?.some((e) => e.activityTaskFailedEventAttributes != null)).toBe(false);
    expect(events?.some((e) => e.activityTaskTimedOutEventAttributes != null)).toBe(false);
    expect(events?.at(-1)?.workflowExecutionCanceledEventAttributes).toBeTruthy();
    expect(await handle.query(progressQuery)).toMatchObject({ state: 'cancelled', message: 'cancelled' });
  });
});

describe('cancellation racing the end of a job', () => {
  /**
   * A heavy activity that heartbeats until it learns of the cancellation, then ends as `finish` says
   * instead of as cancelled: as one whose publish (or failure) was already under way does.
   */
  function heldActivity(finish: (input: ExportActivityInput) => Promise<ExportResult>) {
    let started = false;
    heavy.exportDataset.mockImplementation(async (input) => {
      started = true;
      const ctx = Context.current();
      try {
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(100);
        }
      } catch (err) {
        if (!(err instanceof CancelledFailure)) throw err;
      }
      return finish(input);
    });
    return { started: () => started };
  }

  /** Start a job, cancel it once `ready` holds, expect it to end cancelled; its input. */
  async function cancelledOnce(what: string, ready: () => boolean): Promise<ExportWorkflowInput> {
    const input = makeInput();
    const handle = await start(input);
    await waitFor(what, ready);
    await handle.cancel();
    const err = await failureOf(handle);
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    return input;
  }

  // Every job here has a webhook: the events it is sent tell which ending the job announced.
  beforeEach(() => records.planNotifications.mockResolvedValue({ webhook: true, email: false }));
  const notified = (jobId: string) =>
    records.deliverWebhook.mock.calls.filter(([n]) => n.jobId === jobId).map(([n]) => n.eventType);

  it('ends cancelled when a cancel came while the result was published, and deletes that file', async () => {
    const held = heldActivity((input) => Promise.resolve(resultFor(input)));
    const input = await cancelledOnce('the activity to start', held.started);
    expect(records.completeJob).not.toHaveBeenCalled();
    expect(records.discardResult).toHaveBeenCalledWith(`results/${input.jobId}.csv`);
    expect(records.discardParts).toHaveBeenCalledWith(input.jobId);
    expect(records.cancelJob).toHaveBeenCalledWith(input.jobId);
    expect(notified(input.jobId)).toEqual(['job.cancelled']);
  });

  it('ends cancelled, not running, when a cancel came while the heavy activity failed otherwise', async () => {
    const held = heldActivity(() =>
      Promise.reject(ApplicationFailure.nonRetryable('the worker lost its database', 'Boom')),
    );
    const input = await cancelledOnce('the activity to start', held.started);
    expect(records.failJob).not.toHaveBeenCalled();
    expect(records.cancelJob).toHaveBeenCalledWith(input.jobId);
    expect(records.discardParts).toHaveBeenCalledWith(input.jobId);
    expect(records.releaseHeavySlot).toHaveBeenCalledWith(input.jobId);
    expect(notified(input.jobId)).toEqual(['job.cancelled']);
  });

  it('changes nothing when the cancel comes after the job succeeded: the epilogue runs to its end', async () => {
    heavy.exportDataset.mockImplementation((input) => Promise.resolve(resultFor(input)));
    let completing!: () => void;
    const completed = new Promise<void>((r) => (completing = r));
    let recorded = false;
    records.completeJob.mockImplementation(async () => {
      recorded = true;
      await completed;
    });
    const input = makeInput();
    const handle = await start(input);
    await waitFor('completeJob to start', () => recorded);
    await handle.cancel();
    completing();
    expect(await handle.result()).toMatchObject({ storageKey: `results/${input.jobId}.csv` });
    expect(records.cancelJob).not.toHaveBeenCalled();
    expect(records.discardResult).not.toHaveBeenCalled();
    expect(records.discardParts).toHaveBeenCalledWith(input.jobId);
    expect(notified(input.jobId)).toEqual(['job.succeeded']);
  });

  it('ends cancelled without running the heavy activity when cancelled while waiting for a slot', async () => {
    let tries = 0;
    records.acquireHeavySlot.mockImplementation(() => {
      tries++;
      return Promise.reject(ApplicationFailure.retryable('all slots taken', 'HeavySlotBusy'));
    });
    const input = await cancelledOnce('the slot to be asked for', () => tries >= 1);
    expect(heavy.exportDataset).not.toHaveBeenCalled();
    expect(records.cancelJob).toHaveBeenCalledWith(input.jobId);
    expect(notified(input.jobId)).toEqual(['job.cancelled']);
  });
});

describe('job notifications on the time-skipping server', () => {
  it('retries a failing webhook with backoff for hours, durably, until the receiver answers', async () => {
    heavy.exportDataset.mockImplementation((input) => Promise.resolve(resultFor(input)));
    records.planNotifications.mockResolvedValue({ webhook: true, email: false });
    const serverStart = await env.currentTimeMs();
    const attemptsAt: number[] = [];
    // The receiver is down for the first five hours of server time.
    records.deliverWebhook.mockImplementation(async () => {
      const now = await env.currentTimeMs();
      attemptsAt.push(now - serverStart);
      if (now - serverStart < 5 * HOUR) {
        throw ApplicationFailure.retryable('HTTP 503', 'WebhookDeliveryFailed');
      }
    });
    const input = makeInput();
    const handle = await start(input);
    await handle.result();

    expect(records.deliverWebhook.mock.calls.length).toBe(attemptsAt.length);
    expect(attemptsAt.length).toBeGreaterThan(5);
    expect(attemptsAt.at(-1)).toBeGreaterThanOrEqual(5 * HOUR);
    // Exponential backoff: every gap at least the one before it (2 s, 4 s, 8 s … capped at one hour).
    const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]! + 1000).toBeGreaterThanOrEqual(gaps[i - 1]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(HOUR + 1000);
    // Every attempt carries the same event id (the webhook-id), so receivers can deduplicate.
    const ids = new Set(records.deliverWebhook.mock.calls.map(([d]) => d.eventId));
    expect([...ids]).toEqual([`evt_${input.jobId.replace(/^job_/, '')}_succeeded`]);
    expect(records.sendJobEmail).not.toHaveBeenCalled();
  });

  it('gives up after 24 hours without changing the job outcome', async () => {
    heavy.exportDataset.mockImplementation((input) => Promise.resolve(resultFor(input)));
    records.planNotifications.mockResolvedValue({ webhook: true, email: true });
    const serverStart = await env.currentTimeMs();
    const attemptsAt: number[] = [];
    records.deliverWebhook.mockImplementation(async () => {
      attemptsAt.push((await env.currentTimeMs()) - serverStart);
      throw ApplicationFailure.retryable('HTTP 500', 'WebhookDeliveryFailed');
    });
    const input = makeInput();
    const handle = await start(input);
    const result = await handle.result();
    expect(result.rows).toBe(200);
    // Hourly attempts for a day, then no more.
    expect(attemptsAt.at(-1)).toBeGreaterThanOrEqual(22 * HOUR);
    expect(attemptsAt.at(-1)).toBeLessThanOrEqual(24 * HOUR);
    expect(attemptsAt.length).toBeGreaterThan(20);
    expect(records.sendJobEmail).toHaveBeenCalledTimes(1);
    expect(records.completeJob).toHaveBeenCalledTimes(1);
  });
});

// Kept last in the file: run before the webhook backoff test, its 3-day skip of the shared test server's
// clock makes that test time out (reproduced; cause not found yet).
describe('failed parts retention on the time-skipping server', () => {
  it("expires a failed job's kept parts after FAILED_PARTS_RETENTION_MS, in a timer that outlives the job", async () => {
    heavy.exportDataset.mockRejectedValue(ApplicationFailure.nonRetryable('no such column', 'Boom'));
    const input = makeInput({ failedPartsRetentionMs: 3 * 24 * HOUR });
    const handle = await start(input);
    await failureOf(handle);
    // Kept for now, so a redrive can resume from them.
    expect(records.expireFailedParts).not.toHaveBeenCalled();
    const expiry = env.client.workflow.getHandle(partsRetentionWorkflowId(input.jobId));
    expect((await expiry.describe()).status.name).toBe('RUNNING');
    await expiry.result();
    expect(records.expireFailedParts).toHaveBeenCalledTimes(1);
    expect(records.expireFailedParts).toHaveBeenCalledWith(input.jobId);
  });
});
