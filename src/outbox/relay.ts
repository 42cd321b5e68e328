/**
 * The outbox relay: starts the workflows of recorded jobs, off the API's request path and CPU. It runs in
 * every worker process that serves `jobs` (OUTBOX_RELAY). An insert into `jobs` notifies channel
 * `offload_outbox` (a trigger, drizzle/0004_outbox_notify.sql) when its transaction commits; the relay
 * wakes, and each of its OUTBOX_RELAY_CONCURRENCY lanes claims the oldest unstarted queued job
 * (`FOR UPDATE SKIP LOCKED`, so relays on several machines share the work and never start a job twice
 * at once), starts it and confirms it in the same transaction. It also looks every
 * OUTBOX_SWEEP_INTERVAL_MS without a notification (missed while disconnected, or a start that failed).
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config/env.js';
import type { Database } from '../db/client.js';
import { claimUnstartedJob } from '../db/jobs-repo.js';
import type { Logger } from '../lib/logger.js';
import { JobStarter } from './starter.js';

/** The channel the jobs trigger notifies on insert. */
export const OUTBOX_CHANNEL = 'offload_outbox';

export interface OutboxRelayDeps {
  config: Config;
  database: Database;
  temporal: Client;
  log: Logger;
}

export interface OutboxRelay {
  /** Start every startable job now; resolves with how many this call started (tests, the loop). */
  drain(): Promise<number>;
  /** Stop listening and wait for the starts in flight. */
  stop(): Promise<void>;
}

/** How long a job whose start failed is left to the other lanes' next rounds before it is tried again. */
const FAILED_START_BACKOFF_MS = 5000;

export async function startOutboxRelay(deps: OutboxRelayDeps): Promise<OutboxRelay> {
  const { config, database, log } = deps;
  const starter = new JobStarter(deps);
  /** Jobs whose start just failed, until when: the lanes skip them so one bad job blocks nothing. */
  const backoff = new Map<string, number>();
  let stopped = false;
  let draining: Promise<number> | undefined;
  let again = false;

  /**
   * Claim, start and confirm one job in one transaction. A failed start (Temporal unreachable, a kind
   * this process does not know) leaves the row unconfirmed, and that job is skipped for a while.
   */
  async function startOne(): Promise<'started' | 'none' | 'failed'> {
    const now = Date.now();
    for (const [id, until] of backoff) if (until <= now) backoff.delete(id);
    let failed: { id: string; err: unknown } | undefined;
    const started = await database.db.transaction(async (tx) => {
      const job = await claimUnstartedJob(tx, [...backoff.keys()]);
      if (!job) return 'none' as const;
      try {
        await starter.start(job, tx);
      } catch (err) {
        failed = { id: job.id, err };
        return 'failed' as const;
      }
      log.debug({ jobId: job.id, workflowId: job.workflowId }, 'workflow started');
      return 'started' as const;
    });
    if (failed) {
      backoff.set(failed.id, Date.now() + FAILED_START_BACKOFF_MS);
      log.error({ jobId: failed.id, err: failed.err }, 'workflow start failed; the relay will retry');
    }
    return started;
  }

  /** Start jobs one after another until none is left or a start fails (the next round retries). */
  async function lane(): Promise<number> {
    let n = 0;
    while (!stopped && (await startOne()) === 'started') n++;
    return n;
  }

  /** Run the lanes until nothing is left; a wake-up meanwhile runs them again once they finish. */
  function drain(): Promise<number> {
    if (draining) {
      again = true;
      return draining;
    }
    const run = async (): Promise<number> => {
      let total = 0;
      do {
        again = false;
        const lanes = Array.from({ length: config.OUTBOX_RELAY_CONCURRENCY }, () => lane());
        total += (await Promise.all(lanes)).reduce((a, b) => a + b, 0);
      } while (again && !stopped);
      return total;
    };
    draining = run().finally(() => {
      draining = undefined;
    });
    return draining;
  }

  const wake = () => {
    drain().catch((err: unknown) => log.error({ err }, 'outbox relay round failed'));
  };
  // onlisten runs on every (re)connection of the listening connection: jobs recorded while it was down
  // are found then.
  const listener = await database.sql.listen(OUTBOX_CHANNEL, wake, wake);
  const timer = setInterval(wake, config.OUTBOX_SWEEP_INTERVAL_MS);
  timer.unref();
  log.info({ concurrency: config.OUTBOX_RELAY_CONCURRENCY }, 'outbox relay listening');

  return {
    drain,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await listener.unlisten().catch(() => undefined);
      await draining?.catch(() => undefined);
    },
  };
}
