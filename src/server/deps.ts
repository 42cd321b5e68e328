/** What the API needs, built by the entry point (or a test) and passed to createApp. */
import type { Client } from '@temporalio/client';
import type { Config } from '../config/env.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../lib/logger.js';
import type { Storage } from '../storage/storage.js';

export interface AppDeps {
  config: Config;
  database: Database;
  temporal: Client;
  storage: Storage;
  log: Logger;
}
