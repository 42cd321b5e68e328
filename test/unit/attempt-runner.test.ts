/**
 * The heavy-attempt runner (src/activities/heavy/attempt.ts) on MockActivityEnvironment: a fake
 * activity Context, no Temporal server, and in-memory job records and parts. A toy kind stands in for
 * export and audio: N pieces of work, each stored as a part, the checkpoint the count of parts stored
 * in order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  HEARTBEAT_EVERY_MS,
  runHeavyAttempt,
  storageKey,
  type AttemptDeps,
  type AttemptRecords,
  type HeavyKind,
} from '../../src/activities/heavy/attempt.js';
import { ErrorType } from '../../src/shared/errors.js';
import type { JobState, ProgressReport } from '../../src/shared/jobs.js';

interface Input {
  jobId: string;
  pieces: number;
}
interface Checkpoint {
  partsDone: number;
}
interface Result {
  storageKey: string;
  body: string;
  workDone: number;
}

/** Parts and published objects, in memory. */
class MemoryStorage {
  readonly parts = new Map<number, string>();
  readonly objects = new Map<string, string>();
  publish(key: string, count: number): string {
    const body = Array.from({ length: count }, (_, i) => this.parts.get(i)).join('');
    this.objects.set(key, body);
    return body;
  }
}

/** Job records in memory: the job's state and every call, in order. */
function memoryRecords(state: JobState | undefined) {
  const calls: { op: string; [k: string]: unknown }[] = [];
  let current = state;
  const records: AttemptRecords = {
    markJobRunning(jobId, attempt) {
      calls.push({ op: 'markJobRunning', jobId, attempt });
      if (current === 'queued' || current === 'running') current = 'running';
      return Promise.resolve(current === undefined ? undefined : { state: current });
    },
    recordAttemptStart(a) {
      calls.push({ op: 'recordAttemptStart', ...a });
      return Promise.resolve();
    },
    recordAttemptEnd(a) {
      calls.push({ op: 'recordAttemptEnd', ...a });
      return Promise.resolve();
    },
  };
  return { records, calls, state: () => current };
}

/** A logger whose lines land in `lines`. */
function memoryLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

/** A client whose only use, the progress signal, lands in `signals`. */
function fakeClient(signals: ProgressReport[]): Client {
  return {
    withAbortSignal: <T>(_signal: AbortSignal, fn: () => T) => fn(),
    workflow: {
      getHandle: () => ({
        signal: (_name: string, report: ProgressReport) => Promise.resolve(void signals.push(report)),
      }),
    },
  } as unknown as Client;
}

interface KindOptions {
  storage: MemoryStorage;
  lanes?: number;
  /** Time one piece takes (aborted with the attempt's signal). */
  pieceMs?: number;
  /** The piece whose work throws. */
  failAt?: number;
  /** Time the publish takes. */
  publishMs?: number;
  /** Called as each piece starts and ends. */
  trace?: (event: 'start' | 'end', piece: number) => void;
  /** Fails the bookkeeping of this piece. */
  bookkeepingFailsAt?: number;
  /** Time the bookkeeping of one piece takes. */
  bookkeepingMs?: number;
  saved?: number[];
}

function toyKind(o: KindOptions): HeavyKind<Input, Result> {
  return {
    name: 'toy',
    workPhase: 'pieces',
    check(input) {
      if (input.pieces < 0) throw ApplicationFailure.nonRetryable('negative', ErrorType.InvalidInput);
    },
    begin(input, { ctx }) {
      const previous = ctx.info.heartbeatDetails as Checkpoint | undefined;
      let cp: Checkpoint = previous ?? { partsDone: 0 };
      const finished = new Set<number>();
      let next = cp.partsDone;
      let workDone = 0;
      return {
        resumedFrom: cp.partsDone,
        started: { message: previous ? 'toy resuming' : 'toy starting', fields: { from: cp.partsDone } },
        checkpoint: () => cp,
        fileName: `toy ${input.jobId}.txt`,
        async work(attempt) {
          await attempt.report(cp.partsDone, input.pieces, true);
          await attempt.lanes({
            count: o.lanes ?? 1,
            next: () => (next < input.pieces ? next++ : undefined),
            run: async (piece) => {
              o.trace?.('start', piece);
              try {
                if (o.pieceMs) await sleep(o.pieceMs, undefined, { signal: attempt.signal });
                if (piece === o.failAt) throw new Error(`piece ${piece} failed`);
                o.storage.parts.set(piece, `<${piece}>`);
                workDone++;
                finished.add(piece);
                while (finished.delete(cp.partsDone)) cp = { partsDone: cp.partsDone + 1 };
                attempt.heartbeat();
                const saved = cp.partsDone;
                attempt.background(async () => {
                  if (piece === o.bookkeepingFailsAt) throw new Error('checkpoint write failed');
                  if (o.bookkeepingMs) await sleep(o.bookkeepingMs);
                  o.saved?.push(saved);
                  await attempt.report(saved, input.pieces);
                });
              } finally {
                o.trace?.('end', piece);
              }
            },
          });
        },
        async publish(key) {
          if (o.publishMs) await sleep(o.publishMs);
          const body = o.storage.publish(key, cp.partsDone);
          return { result: { storageKey: key, body, workDone }, workDone, fields: { parts: cp.partsDone } };
        },
      };
    },
  };
}

function setup(
  opts: {
    state?: JobState | undefined;
    heartbeatDetails?: unknown;
    attempt?: number;
    outage?: AttemptDeps['outage'];
  } = {},
) {
  const { records, calls, state } = memoryRecords('state' in opts ? opts.state : 'queued');
  const { log, lines } = memoryLog();
  const signals: ProgressReport[] = [];
  const env = new MockActivityEnvironment(
    { attempt: opts.attempt ?? 1, heartbeatDetails: opts.heartbeatDetails },
    // The SDK's own 'Activity failed' warnings would only repeat what the tests check.
    { client: fakeClient(signals), logger: new DefaultLogger('ERROR') },
  );
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const deps: AttemptDeps = {
    log,
    workerName: 'test-worker',
    records,
    heartbeatEveryMs: 20,
    ...(opts.outage ? { outage: opts.outage } : {}),
  };
  const run = (kind: HeavyKind<Input, Result>, input: Input): Promise<Result> =>
    env.run<[Input], Result, (i: Input) => Promise<Result>>((i) => runHeavyAttempt(deps, kind, i), input);
  return { env, run, calls, state, lines, signals, beats };
}

describe('storageKey', () => {
  it('puts the file under the job id with anything unsafe replaced', () => {
    expect(storageKey('job_1', 'orders 2026/11 (final).csv')).toBe('job_1/orders_2026_11__final_.csv');
    expect(storageKey('job_1', 'speech-job_1.mp3')).toBe('job_1/speech-job_1.mp3');
  });
});

describe('runHeavyAttempt', () => {
  it('runs an attempt: records, heartbeats with the checkpoint, progress, publish, log lines', async () => {
    const storage = new MemoryStorage();
    const t = setup();
    const result = await t.run(toyKind({ storage, lanes: 2 }), { jobId: 'job_a', pieces: 5 });

    expect(result).toEqual({ storageKey: 'job_a/toy_job_a.txt', body: '<0><1><2><3><4>', workDone: 5 });
    expect(storage.objects.get('job_a/toy_job_a.txt')).toBe('<0><1><2><3><4>');
    expect(t.calls).toEqual([
      { op: 'markJobRunning', jobId: 'job_a', attempt: 1 },
      { op: 'recordAttemptStart', jobId: 'job_a', attempt: 1, worker: 'test-worker', resumedFromRows: 0 },
      { op: 'recordAttemptEnd', jobId: 'job_a', attempt: 1, rowsRead: 5 },
    ]);
    // The first heartbeat carries the starting checkpoint; the last the final one.
    expect(t.beats[0]).toEqual({ partsDone: 0 });
    expect(t.beats.at(-1)).toEqual({ partsDone: 5 });
    // The forced first report goes out; throttled ones may not.
    expect(t.signals[0]).toMatchObject({ done: 0, total: 5, attempt: 1 });

    const started = t.lines.find((l) => l.msg === 'toy starting');
    expect(started).toMatchObject({ jobId: 'job_a', workflowId: 'test', attempt: 1, from: 0 });
    const published = t.lines.find((l) => l.msg === 'toy published');
    expect(published).toMatchObject({ jobId: 'job_a', attempt: 1, parts: 5 });
    expect(Object.keys(published!.ms as object)).toEqual(['setup', 'pieces', 'publish']);
  });

  it('resumes from the checkpoint in the heartbeat details and does only the rest', async () => {
    const storage = new MemoryStorage();
    for (const i of [0, 1, 2]) storage.parts.set(i, `<${i}>`); // what attempt 1 stored
    const started: number[] = [];
    const t = setup({ attempt: 2, heartbeatDetails: { partsDone: 3 } });
    const kind = toyKind({ storage, lanes: 2, trace: (e, p) => e === 'start' && started.push(p) });
    const result = await t.run(kind, { jobId: 'job_b', pieces: 6 });

    expect(started.sort()).toEqual([3, 4, 5]);
    expect(result.body).toBe('<0><1><2><3><4><5>');
    expect(t.calls[1]).toMatchObject({ op: 'recordAttemptStart', attempt: 2, resumedFromRows: 3 });
    expect(t.calls[2]).toMatchObject({ op: 'recordAttemptEnd', attempt: 2, rowsRead: 3 });
    expect(t.beats[0]).toEqual({ partsDone: 3 });
    expect(t.lines.find((l) => l.msg === 'toy resuming')).toMatchObject({ attempt: 2, from: 3 });
    // Progress starts where the checkpoint was, and its rate counts this attempt only.
    expect(t.signals[0]).toMatchObject({ done: 3, total: 6, attempt: 2 });
  });

  it('stops the lanes on cancellation and fails with the cancellation', async () => {
    const storage = new MemoryStorage();
    const running = new Set<number>();
    const startedAfterCancel: number[] = [];
    let cancelled = false;
    const t = setup();
    const kind = toyKind({
      storage,
      lanes: 3,
      pieceMs: 40,
      trace: (e, p) => {
        if (e === 'start') {
          running.add(p);
          if (cancelled) startedAfterCancel.push(p);
        } else running.delete(p);
      },
    });
    const attempt = t.run(kind, { jobId: 'job_c', pieces: 100 });
    attempt.catch(() => {});
    // Cancel once a few pieces are done, with three in flight.
    await expect.poll(() => storage.parts.size, { interval: 5, timeout: 5000 }).toBeGreaterThanOrEqual(4);
    cancelled = true;
    t.env.cancel();

    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CancelledFailure);
    // Every lane had settled by then, and none took a piece after the cancellation.
    expect(running.size).toBe(0);
    expect(startedAfterCancel).toEqual([]);
    expect(storage.parts.size).toBeLessThan(100);
    // Nothing was published and the attempt's end is not recorded.
    expect(storage.objects.size).toBe(0);
    expect(t.calls.map((c) => c.op)).not.toContain('recordAttemptEnd');
    // The ticker stopped with the attempt.
    const beats = t.beats.length;
    await sleep(100);
    expect(t.beats.length).toBe(beats);
  });

  it('aborts the other lanes when one fails, lets every lane settle, and fails with that error', async () => {
    const storage = new MemoryStorage();
    const running = new Set<number>();
    const ended: number[] = [];
    const saved: number[] = [];
    const t = setup();
    const kind = toyKind({
      storage,
      lanes: 3,
      pieceMs: 30,
      failAt: 4,
      saved,
      bookkeepingMs: 25,
      trace: (e, p) => {
        if (e === 'start') running.add(p);
        else {
          running.delete(p);
          ended.push(p);
        }
      },
    });
    const err = await t.run(kind, { jobId: 'job_d', pieces: 50 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // The lane's own error, not the aborts it caused in the other lanes.
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('piece 4 failed');
    expect(running.size).toBe(0);
    // The other lanes stopped: pieces 5 and 6 were in flight at most, and nothing after.
    expect(Math.max(...ended)).toBeLessThanOrEqual(6);
    expect(storage.parts.has(4)).toBe(false);
    // The bookkeeping of every piece that finished landed before the attempt failed (it is slower
    // than the pieces: without the wait, most of it would still be queued).
    expect(saved).toHaveLength(storage.parts.size);
    expect(saved.at(-1)).toBe(Math.max(...storage.parts.keys()) + 1);
    expect(storage.objects.size).toBe(0);
  });

  it('fails the attempt with a bookkeeping failure once the work is done, before publishing', async () => {
    const storage = new MemoryStorage();
    const t = setup();
    const err = await t.run(toyKind({ storage, bookkeepingFailsAt: 1 }), { jobId: 'job_e', pieces: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe('checkpoint write failed');
    expect(storage.parts.size).toBe(3);
    expect(storage.objects.size).toBe(0);
  });

  it('keeps heartbeating during a publish longer than the heartbeat interval', async () => {
    const storage = new MemoryStorage();
    const t = setup();
    let beatsBeforePublish = 0;
    const kind = toyKind({ storage, publishMs: 300 });
    const begin = kind.begin.bind(kind);
    kind.begin = async (input, info) => {
      const plan = await begin(input, info);
      const publish = plan.publish.bind(plan);
      plan.publish = (key, scope) => {
        beatsBeforePublish = t.beats.length;
        return publish(key, scope);
      };
      return plan;
    };
    await t.run(kind, { jobId: 'job_f', pieces: 2 });
    // 300 ms at one heartbeat every 20 ms; a loaded machine may run the timer late, not never.
    const during = t.beats.length - beatsBeforePublish;
    expect(during).toBeGreaterThanOrEqual(5);
    expect(t.beats.slice(beatsBeforePublish)).toEqual(Array(during).fill({ partsDone: 2 }));
    const beats = t.beats.length;
    await sleep(100);
    expect(t.beats.length).toBe(beats);
    expect(HEARTBEAT_EVERY_MS).toBe(500);
  });

  it('refuses a job that does not exist, non-retryably, before any work', async () => {
    const storage = new MemoryStorage();
    const t = setup({ state: undefined });
    const err = await t.run(toyKind({ storage }), { jobId: 'job_gone', pieces: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({
      type: ErrorType.JobNotFound,
      nonRetryable: true,
      message: 'job job_gone does not exist',
    });
    expect(t.calls.map((c) => c.op)).toEqual(['markJobRunning']);
    expect(t.beats).toEqual([]);
    expect(storage.parts.size).toBe(0);
  });

  it('refuses a job that already ended, non-retryably', async () => {
    const storage = new MemoryStorage();
    const t = setup({ state: 'cancelled' });
    const err = await t.run(toyKind({ storage }), { jobId: 'job_x', pieces: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      type: ErrorType.JobNotFound,
      nonRetryable: true,
      message: 'job job_x is already cancelled',
    });
    expect(t.calls.map((c) => c.op)).toEqual(['markJobRunning']);
    expect(storage.parts.size).toBe(0);
  });

  it("runs the kind's input checks before the job is marked running, and maps failures", async () => {
    const storage = new MemoryStorage();
    const t = setup();
    await expect(t.run(toyKind({ storage }), { jobId: 'job_h', pieces: -1 })).rejects.toMatchObject({
      type: ErrorType.InvalidInput,
      nonRetryable: true,
    });
    expect(t.calls).toEqual([]);

    const u = setup();
    const kind: HeavyKind<Input, Result> = {
      ...toyKind({ storage, failAt: 0 }),
      failure: (e) => ApplicationFailure.nonRetryable((e as Error).message, ErrorType.EngineRejected),
    };
    await expect(u.run(kind, { jobId: 'job_i', pieces: 2 })).rejects.toMatchObject({
      type: ErrorType.EngineRejected,
      message: 'piece 0 failed',
    });
  });

  describe('when the database cannot be reached', () => {
    /** postgres.js's error for a backend a restart terminated. */
    const adminShutdown = () =>
      Object.assign(new Error('terminating connection due to administrator command'), {
        name: 'PostgresError',
        code: '57P01',
      });
    /** A kind whose piece `failAt` throws `error` instead of the toy's own error. */
    const failingWith = (storage: MemoryStorage, error: () => Error) => {
      const kind = toyKind({ storage, failAt: 2 });
      return {
        ...kind,
        begin(input: Input, info: Parameters<HeavyKind<Input, Result>['begin']>[1]) {
          const plan = kind.begin(input, info) as Awaited<ReturnType<HeavyKind<Input, Result>['begin']>>;
          return {
            ...plan,
            work: (scope: Parameters<typeof plan.work>[0]) =>
              plan.work(scope).catch((err: unknown) => {
                throw /piece 2 failed/.test(String(err)) ? error() : err;
              }),
          };
        },
      };
    };

    it('waits for it, heartbeating the checkpoint, then fails so the retry starts once it is back', async () => {
      let probes = 0;
      const outage = {
        waitMs: 10_000,
        pollMs: 20,
        databaseReachable: () => Promise.resolve(++probes >= 3),
      };
      const t = setup({ outage });
      const storage = new MemoryStorage();
      await expect(t.run(failingWith(storage, adminShutdown), { jobId: 'job_o', pieces: 5 })).rejects.toThrow(
        /administrator command/,
      );
      expect(probes).toBe(3);
      // The checkpoint of the pieces done before the failure, heartbeated during the wait.
      expect(t.beats.at(-1)).toEqual({ partsDone: 2 });
      expect(
        t.lines.some((l) => l.msg === 'database unreachable: waiting for it before the attempt ends'),
      ).toBe(true);
    });

    it('gives up waiting after waitMs', async () => {
      let probes = 0;
      const outage = { waitMs: 100, pollMs: 20, databaseReachable: () => Promise.resolve((probes++, false)) };
      const t = setup({ outage });
      await expect(
        t.run(failingWith(new MemoryStorage(), adminShutdown), { jobId: 'job_p', pieces: 5 }),
      ).rejects.toThrow(/administrator command/);
      expect(probes).toBeGreaterThan(1);
    });

    it('does not wait for any other failure', async () => {
      let probes = 0;
      const outage = {
        waitMs: 10_000,
        pollMs: 20,
        databaseReachable: () => Promise.resolve((probes++, false)),
      };
      const t = setup({ outage });
      await expect(
        t.run(toyKind({ storage: new MemoryStorage(), failAt: 1 }), { jobId: 'job_q', pieces: 5 }),
      ).rejects.toThrow(/piece 1 failed/);
      expect(probes).toBe(0);
    });

    it('ends the wait on cancellation and fails with the cancellation', async () => {
      let probes = 0;
      const outage = {
        waitMs: 60_000,
        pollMs: 20,
        databaseReachable: () => Promise.resolve((probes++, false)),
      };
      const t = setup({ outage });
      const running = t.run(failingWith(new MemoryStorage(), adminShutdown), { jobId: 'job_r', pieces: 5 });
      while (probes === 0) await sleep(5);
      t.env.cancel();
      await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    });
  });
});
