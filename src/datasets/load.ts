/**
 * Start-up of the datasets: read DATASETS_FILE (or the shipped demo), resolve each source's URL from
 * the environment variable the file names, connect, check every dataset against its source's catalog,
 * and only then make the catalog the process's (./registry.ts). Any problem, in the file or against a
 * source, throws one DatasetsFileError listing all of them; the entry points exit non-zero with it.
 */
import type { Config } from '../config/env.js';
import { openSourcePools, type SourcePoolOptions, type SourcePools } from '../db/sources.js';
import { checkSourceDatasets } from './catalog-check.js';
import { DatasetsFileError, DEFAULT_SOURCE, demoDatasetsFile, readDatasetsFile } from './file.js';
import { useCatalog, type Catalog } from './registry.js';

export interface DatasetsHandle {
  catalog: Catalog;
  sources: SourcePools;
  close(): Promise<void>;
}

type SourceConfig = Pick<Config, 'DATASETS_FILE' | 'SOURCE_DATABASE_URL' | 'DATABASE_URL' | 'variable'>;

/** Each source's URL, or the problems of those without one. */
export function sourceUrls(
  config: SourceConfig,
  catalog: Catalog,
): { urls: Record<string, string>; problems: string[] } {
  const urls: Record<string, string> = {};
  const problems: string[] = [];
  const base = config.SOURCE_DATABASE_URL ?? config.DATABASE_URL;
  if (base) urls[DEFAULT_SOURCE] = base;
  for (const source of Object.values(catalog.sources)) {
    if (!source.urlVariable) continue;
    const url = config.variable(source.urlVariable);
    if (!url) problems.push(`sources.${source.name}.urlFrom: ${source.urlVariable} is not set`);
    else if (!/^postgres(ql)?:\/\//.test(url))
      problems.push(`sources.${source.name}.urlFrom: ${source.urlVariable} must be a postgres:// URL`);
    else urls[source.name] = url;
  }
  const used = new Set(Object.values(catalog.datasets).map((d) => d.source));
  if (used.has(DEFAULT_SOURCE) && !urls[DEFAULT_SOURCE])
    problems.push('sources.default: neither SOURCE_DATABASE_URL nor DATABASE_URL is set');
  return { urls, problems };
}

/** The reason a connection or catalog query failed, without the URL (it may hold a password). */
function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return [e.code, e.message?.split('\n')[0]].filter(Boolean).join(': ') || String(err);
}

export async function openDatasets(config: SourceConfig, pool: SourcePoolOptions): Promise<DatasetsHandle> {
  const catalog = readDatasetsFile(config.DATASETS_FILE ?? demoDatasetsFile());
  const { urls, problems } = sourceUrls(config, catalog);
  if (problems.length > 0) throw new DatasetsFileError(catalog.file, problems);
  const sources = openSourcePools(urls, pool);
  try {
    const bySource = new Map<string, (typeof catalog.datasets)[string][]>();
    for (const ds of Object.values(catalog.datasets))
      bySource.set(ds.source, [...(bySource.get(ds.source) ?? []), ds]);
    const found = await Promise.all(
      [...bySource].map(async ([name, list]) => {
        try {
          return await checkSourceDatasets(sources.get(name).sql, list);
        } catch (err) {
          return [
            `sources.${name}: the catalog could not be read (${reason(err)}); datasets ${list.map((d) => d.name).join(', ')}`,
          ];
        }
      }),
    );
    const all = found.flat();
    if (all.length > 0) throw new DatasetsFileError(catalog.file, all);
  } catch (err) {
    await sources.close();
    throw err;
  }
  useCatalog(catalog);
  return { catalog, sources, close: () => sources.close() };
}
