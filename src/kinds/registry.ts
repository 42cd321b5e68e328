/** The job kinds a process knows, by name and by heavy queue. */
import { JOBS_QUEUE } from '../shared/temporal.js';
import type { JobKindDefinition } from './kind.js';

export class JobKindRegistry {
  private readonly byName = new Map<string, JobKindDefinition>();

  constructor(kinds: readonly JobKindDefinition[]) {
    for (const kind of kinds) this.register(kind);
  }

  /** Add a kind; its name, creation path and operation id must be new. */
  register(kind: JobKindDefinition): void {
    for (const other of this.byName.values()) {
      if (other.name === kind.name) throw new Error(`job kind ${kind.name} is registered twice`);
      if (other.create.path === kind.create.path || other.create.operationId === kind.create.operationId)
        throw new Error(`job kinds ${other.name} and ${kind.name} share a creation route`);
    }
    if (kind.queue === JOBS_QUEUE) throw new Error(`job kind ${kind.name}: ${JOBS_QUEUE} is the light queue`);
    this.byName.set(kind.name, kind);
  }

  get(name: string): JobKindDefinition | undefined {
    return this.byName.get(name);
  }

  list(): JobKindDefinition[] {
    return [...this.byName.values()];
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Every queue a worker can serve: `jobs`, then each kind's heavy queue. */
  queues(): string[] {
    return [JOBS_QUEUE, ...new Set(this.list().map((k) => k.queue))];
  }

  /** The kinds whose heavy activities run on `queue`. */
  onQueue(queue: string): JobKindDefinition[] {
    return this.list().filter((k) => k.queue === queue);
  }
}
