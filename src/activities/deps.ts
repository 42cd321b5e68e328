/** What activities need from the process that hosts them. */
import type { Database } from '../db/client.js';
import type { Logger } from '../lib/logger.js';
import type { Storage } from '../storage/storage.js';
import type { NotifyConfig } from './notify.js';

export interface ActivityDeps {
  database: Database;
  storage: Storage;
  log: Logger;
  /** Name of this worker process, recorded with each attempt. */
  workerName: string;
  /** Webhook and e-mail settings. */
  notify: NotifyConfig;
  /** How long a heavy attempt that lost the database waits for it before it ends (HEAVY_OUTAGE_WAIT_MS). */
  outageWaitMs?: number;
}
