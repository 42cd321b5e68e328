/** Which queues a worker serves: --queues or WORKER_QUEUES, checked against the registered job kinds. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/env.js';
import { jobKinds } from '../../src/kinds/index.js';
import { parseQueues } from '../../src/worker/queues.js';

describe('parseQueues', () => {
  it('knows jobs and the heavy queue of every kind', () => {
    expect(jobKinds.queues()).toEqual(['jobs', 'exports', 'audio']);
  });

  it('takes --queues over WORKER_QUEUES, trimmed and without repeats', () => {
    expect(parseQueues(' exports, jobs,exports ', ['audio'], jobKinds)).toEqual(['exports', 'jobs']);
    expect(parseQueues(undefined, ['audio'], jobKinds)).toEqual(['audio']);
  });

  it('refuses a queue no kind runs on, naming where it came from and the known ones', () => {
    const refused = (value: string | undefined, fallback: string[]) => {
      try {
        parseQueues(value, fallback, jobKinds);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    const flag = refused('jobs,videos', ['jobs']);
    expect(flag).toContain('--queues: unknown queue(s) videos');
    for (const q of ['jobs', 'exports', 'audio']) expect(flag).toContain(q);
    expect(refused(undefined, ['videos'])).toContain('WORKER_QUEUES: unknown queue(s) videos');
    expect(refused(' , ', ['jobs'])).toContain('(none)');
  });
});
