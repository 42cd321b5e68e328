/** The workflow-side progress state: what the progress query answers. */
import type { JobState, Progress, ProgressReport } from '../shared/jobs.js';

export function initialProgress(unit: Progress['unit']): Progress {
  return {
    state: 'queued',
    done: 0,
    total: null,
    unit,
    percent: 0,
    attempt: 0,
    etaSeconds: null,
    message: null,
    updatedAt: null,
  };
}

/** Fold an activity's report into the state. Reports from an older attempt never move progress back. */
export function applyReport(p: Progress, r: ProgressReport): Progress {
  if (r.attempt < p.attempt) return p;
  const percent = r.total > 0 ? Math.min(99, Math.floor((r.done / r.total) * 100)) : 0;
  const eta = r.rate && r.rate > 0 ? Math.max(0, Math.round((r.total - r.done) / r.rate)) : null;
  return {
    ...p,
    state: 'running',
    done: r.done,
    total: r.total,
    percent,
    attempt: r.attempt,
    etaSeconds: eta,
    updatedAt: new Date(r.at).toISOString(),
  };
}

export function finish(p: Progress, state: JobState, message: string | null): Progress {
  return {
    ...p,
    state,
    percent: state === 'succeeded' ? 100 : p.percent,
    done: state === 'succeeded' && p.total !== null ? p.total : p.done,
    etaSeconds: null,
    message,
  };
}
