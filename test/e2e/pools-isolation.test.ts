/**
 * The `exports` and `audio` pools do not wait for each other: with one worker per queue and one slot
 * each, a flood of audio jobs leaves an export's path free, and a flood of exports leaves an audio
 * job's path free. Each flood comes from its own user, as a heavy user's would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUserLimits } from '../../src/db/limits-repo.js';
import { seedTenant } from '../helpers/data.js';
import { speechText } from '../helpers/speech-text.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const FLOOD = 6;

let stack: Stack;
let workers: WorkerProcess[] = [];
let tenant: string;

beforeAll(async () => {
  stack = await startStack({
    queues: ['jobs'],
    // Slow exports (2,000 rows at 1,000 rows/s) so an export flood lasts well beyond one audio job.
    env: { EXPORT_PART_ROWS: '200', EXPORT_MAX_ROWS_PER_SEC: '1000', AUDIO_PARALLELISM: '1' },
  });
  tenant = await seedTenant(stack.database.sql, 2000);
  const one = { EXPORTS_CONCURRENCY: '1', AUDIO_CONCURRENCY: '1' };
  workers = await Promise.all([
    startWorkerProcess(['exports'], { ...stack.childEnv, ...one }),
    startWorkerProcess(['audio'], { ...stack.childEnv, ...one }),
  ]);
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await stack?.stop();
});

async function flooder(): Promise<{ userId: string; key: string }> {
  const user = await stack.newUser(tenant);
  await setUserLimits(stack.database.db, user.userId, { maxRunningHeavy: FLOOD, maxActiveJobs: 100 });
  return user;
}

async function submit(key: string, path: string, body: unknown): Promise<string> {
  const res = await api(stack, key)(path, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function states(key: string, ids: string[]): Promise<string[]> {
  return Promise.all(
    ids.map(
      async (id) => ((await (await api(stack, key)(`/v1/jobs/${id}`)).json()) as { state: string }).state,
    ),
  );
}

async function succeeded(key: string, id: string): Promise<void> {
  await eventually(async () => ((await states(key, [id]))[0] === 'succeeded' ? true : undefined), 90_000);
}

describe('separate pools', () => {
  it('finishes an export while a flood of audio jobs is still queued', async () => {
    const heavy = await flooder();
    const audio = [];
    for (let i = 0; i < FLOOD; i++) {
      audio.push(
        await submit(heavy.key, '/v1/audio', {
          text: speechText(40_000, i + 1),
          format: 'wav',
          voice: 'en-us',
        }),
      );
    }
    const light = await stack.newUser(tenant);
    const exportId = await submit(light.key, '/v1/exports', { dataset: 'orders', format: 'csv' });
    await succeeded(light.key, exportId);
    // The flood is far from drained.
    const audioStates = await states(heavy.key, audio);
    expect(audioStates.filter((s) => s !== 'succeeded').length).toBeGreaterThanOrEqual(3);
    // The next test starts with both pools free: this flood would hold the one audio slot.
    await stack.cancelActiveJobs([heavy.userId]);
  }, 120_000);

  it('finishes an audio job while a flood of exports is still queued', async () => {
    const heavy = await flooder();
    const exportIds = [];
    for (let i = 0; i < FLOOD; i++) {
      exportIds.push(await submit(heavy.key, '/v1/exports', { dataset: 'orders', format: 'csv' }));
    }
    const light = await stack.newUser(tenant);
    const audioId = await submit(light.key, '/v1/audio', {
      text: speechText(300, 7),
      format: 'wav',
      voice: 'en-us',
    });
    await succeeded(light.key, audioId);
    const exportStates = await states(heavy.key, exportIds);
    expect(exportStates.filter((s) => s !== 'succeeded').length).toBeGreaterThanOrEqual(3);
    await stack.cancelActiveJobs([heavy.userId]);
  }, 120_000);
});
