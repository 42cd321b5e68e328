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
  export: {
    /** Rows per stored part (and per checkpoint). */
    partRows: number;
    /** Parts of a CSV or NDJSON export read side by side, each over its own connection. */
    readLanes: number;
    /** Read-rate cap protecting the database; 0 = unlimited. */
    maxRowsPerSec: number;
    /** Rows per XLSX sheet, header included. */
    xlsxSheetRows: number;
    pdfRowsPerPage: number;
    /** For the PDF render thread's own connection. */
    databaseUrl: string;
  };
  /** Webhook and e-mail settings. */
  notify: NotifyConfig;
}
