/**
 * Safe upgrades: every history recorded by an earlier release (test/workflows/histories/<version>/,
 * written by `npm run histories:record`) replays against today's workflow bundle. A change to a
 * workflow that running workflows could not survive (an activity added, removed or reordered without a
 * patch marker) fails here with a determinism violation, before it is deployed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { replayOptions } from '../helpers/time-skipping.js';

const DIR = path.join(import.meta.dirname, 'histories');
const files = fs
  .readdirSync(DIR, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.json'))
  .sort();

interface RecordedHistory {
  workflowId: string;
  events: unknown[];
}

describe('histories recorded by earlier releases', () => {
  it('are committed (at least one release, every scenario)', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  it.each(files)('%s replays on this release', async (file) => {
    const recorded = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as RecordedHistory;
    const history = historyFromJSON({ events: recorded.events });
    await expect(
      Worker.runReplayHistory(replayOptions(inject('workflowBundlePath')), history, recorded.workflowId),
    ).resolves.toBeUndefined();
  });
});
