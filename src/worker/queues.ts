/** Which task queues a worker process serves: `--queues`, else WORKER_QUEUES, checked against the job kinds. */
import { ConfigError } from '../config/env.js';
import type { JobKindRegistry } from '../kinds/registry.js';

export function parseQueues(value: string | undefined, fallback: string[], kinds: JobKindRegistry): string[] {
  const [source, queues] = value
    ? [
        '--queues',
        value
          .split(',')
          .map((q) => q.trim())
          .filter(Boolean),
      ]
    : ['WORKER_QUEUES', fallback];
  const known = kinds.queues();
  const unknown = queues.filter((q) => !known.includes(q));
  if (unknown.length > 0 || queues.length === 0) {
    throw new ConfigError([
      `${source}: unknown queue(s) ${unknown.join(', ') || '(none)'}; use ${known.join(', ')}`,
    ]);
  }
  return [...new Set(queues)];
}
