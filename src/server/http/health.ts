/**
 * Liveness and readiness: `/healthz` answers while the process runs; `/readyz` also checks that
 * PostgreSQL and Temporal answer, each within a short timeout, and says which one does not.
 */
import type { Client } from '@temporalio/client';
import { pingDatabase, type Sql } from '../../db/client.js';

const CHECK_TIMEOUT_MS = 2000;

export interface ReadinessCheck {
  name: 'database' | 'temporal';
  ok: boolean;
  ms: number;
  error?: string;
}

async function timed(name: ReadinessCheck['name'], probe: () => Promise<unknown>): Promise<ReadinessCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { name, ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { name, ok: false, ms: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(sql: Sql, temporal: Client): Promise<ReadinessCheck[]> {
  return Promise.all([
    timed('database', () => pingDatabase(sql)),
    timed('temporal', () => temporal.connection.workflowService.getSystemInfo({})),
  ]);
}
