/**
 * The worker half of the `export` kind (src/kinds/export.ts): the export activity on the `exports` queue.
 * It loads the datasets file and checks it against every source before the worker polls (a file with
 * problems stops the process, listing them), and reads through read-only source pools.
 */
import type { Config } from '../../config/env.js';
import { openDatasets } from '../../datasets/load.js';
import type { KindWorker } from '../../kinds/kind.js';
import type { Logger } from '../../lib/logger.js';
import { createExportActivities } from './export-dataset.js';

/**
 * Read lanes per export, within what a source pool can hold: every export slot may reserve one
 * connection per lane while the part planning and the count need one more, so more lanes than that
 * could wait on each other forever.
 */
function readLanes(config: Config, log: Logger): number {
  const fit = Math.floor((config.SOURCE_POOL_MAX - 1) / config.EXPORTS_CONCURRENCY);
  const lanes = Math.max(1, Math.min(config.EXPORT_READ_LANES, fit));
  if (lanes < config.EXPORT_READ_LANES)
    log.warn(
      { EXPORT_READ_LANES: config.EXPORT_READ_LANES, SOURCE_POOL_MAX: config.SOURCE_POOL_MAX, lanes },
      'fewer export read lanes than configured: the source pool is too small for EXPORTS_CONCURRENCY × lanes + 1',
    );
  return lanes;
}

export const exportWorker: KindWorker = {
  async create({ config, deps, log }) {
    const datasets = await openDatasets(config, {
      max: config.SOURCE_POOL_MAX,
      appName: 'offload-export',
      statementTimeoutMs: config.SOURCE_STATEMENT_TIMEOUT_MS,
    });
    log.info(
      { file: datasets.catalog.file, datasets: Object.keys(datasets.catalog.datasets) },
      'datasets file loaded and checked against its sources',
    );
    return {
      activities: createExportActivities(deps, {
        partRows: config.EXPORT_PART_ROWS,
        readLanes: readLanes(config, log),
        maxRowsPerSec: config.EXPORT_MAX_ROWS_PER_SEC,
        xlsxSheetRows: config.EXPORT_XLSX_SHEET_ROWS,
        pdfRowsPerPage: config.EXPORT_PDF_ROWS_PER_PAGE,
        sources: datasets.sources,
      }),
      concurrency: config.EXPORTS_CONCURRENCY,
      close: () => datasets.close(),
    };
  },
};
