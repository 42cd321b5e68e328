/** The worker half of the `export` kind (src/kinds/export.ts): the export activity on the `exports` queue. */
import type { Config } from '../../config/env.js';
import type { Database } from '../../db/client.js';
import type { KindWorker } from '../../kinds/kind.js';
import type { Logger } from '../../lib/logger.js';
import { createExportActivities } from './export-dataset.js';

/**
 * Read lanes per export, within what the pool can hold: every export slot may reserve one connection
 * per lane while the part planning and bookkeeping need one more from the shared pool, so more lanes
 * than that could wait on each other forever.
 */
function readLanes(config: Config, database: Database, log: Logger): number {
  const fit = Math.floor((database.poolMax - 1) / config.EXPORTS_CONCURRENCY);
  const lanes = Math.max(1, Math.min(config.EXPORT_READ_LANES, fit));
  if (lanes < config.EXPORT_READ_LANES)
    log.warn(
      { EXPORT_READ_LANES: config.EXPORT_READ_LANES, DATABASE_POOL_MAX: database.poolMax, lanes },
      'fewer export read lanes than configured: the database pool is too small for EXPORTS_CONCURRENCY × lanes + 1',
    );
  return lanes;
}

export const exportWorker: KindWorker = {
  create: ({ config, database, deps, log }) =>
    Promise.resolve({
      activities: createExportActivities(deps, {
        partRows: config.EXPORT_PART_ROWS,
        readLanes: readLanes(config, database, log),
        maxRowsPerSec: config.EXPORT_MAX_ROWS_PER_SEC,
        xlsxSheetRows: config.EXPORT_XLSX_SHEET_ROWS,
        pdfRowsPerPage: config.EXPORT_PDF_ROWS_PER_PAGE,
        databaseUrl: config.DATABASE_URL ?? '',
      }),
      concurrency: config.EXPORTS_CONCURRENCY,
    }),
};
