/**
 * `--filter` values of `offload export`: `name=a,b,c` is a list (any of these values), `name=from..to` a range
 * (from inclusive, to exclusive; either end may be left out: `created_at=2024-01-01..`).
 */
import { UsageError } from './exit-codes.js';

export type FilterValue = string[] | { from?: string; to?: string };

export function parseFilters(specs: readonly string[]): Record<string, FilterValue> {
  const filters: Record<string, FilterValue> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = spec.slice(0, eq).trim();
    const value = spec.slice(eq + 1);
    if (eq <= 0 || value === '') {
      throw new UsageError(`--filter ${JSON.stringify(spec)}: expected name=value[,value…] or name=from..to`);
    }
    if (filters[name]) throw new UsageError(`--filter ${name} is given twice`);
    const range = value.indexOf('..');
    if (range >= 0) {
      const from = value.slice(0, range).trim();
      const to = value.slice(range + 2).trim();
      if (!from && !to) throw new UsageError(`--filter ${name}=..: give at least one end of the range`);
      filters[name] = { ...(from ? { from } : {}), ...(to ? { to } : {}) };
    } else {
      filters[name] = value.split(',').map((v) => v.trim());
    }
  }
  return filters;
}

/** `--sort amount:desc` (the direction defaults to asc). */
export function parseSort(spec: string): { column: string; direction: 'asc' | 'desc' } {
  const [column, direction = 'asc', ...rest] = spec.split(':');
  if (!column || rest.length > 0 || (direction !== 'asc' && direction !== 'desc')) {
    throw new UsageError(`--sort ${JSON.stringify(spec)}: expected column[:asc|desc]`);
  }
  return { column, direction };
}
