/** What the API needs, built by the entry point (or a test) and passed to createApp. */
import type { Client } from '@temporalio/client';
import type { Config } from '../config/env.js';
import type { Database } from '../db/client.js';
import type { DatasetsHandle } from '../datasets/load.js';
import type { Logger } from '../lib/logger.js';
import type { Storage } from '../storage/storage.js';

export interface AppDeps {
  config: Config;
  database: Database;
  /**
   * Connections for the request-rate buckets, opened with `synchronous_commit = off`: a bucket update
   * does not wait for the WAL flush (a crash may forget the last milliseconds of takes, which a rate
   * limit can afford), so one user's concurrent requests do not queue behind disk flushes on the
   * bucket's row lock. Defaults to `database`.
   */
  rateLimitDatabase?: Database;
  temporal: Client;
  storage: Storage;
  /**
   * The datasets file, checked against its sources, and the API's read-only source pools (row caps and
   * estimates count there). Without it the demo datasets are read from `database`.
   */
  datasets?: DatasetsHandle;
  log: Logger;
}
