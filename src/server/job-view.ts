/** The public representation of a job, with links. */
import type { JobRow } from '../db/jobs-repo.js';
import type { Progress } from '../shared/jobs.js';

export function jobLinks(id: string) {
  const self = `/v1/jobs/${id}`;
  return { self, events: `${self}/events`, download: `${self}/download` };
}

/** Progress for a job whose workflow cannot answer (not started, finished, or no worker up). */
export function progressFromRow(job: JobRow): Progress {
  const done = job.state === 'succeeded' ? (job.result?.rows ?? 0) : 0;
  return {
    state: job.state,
    done,
    total: job.state === 'succeeded' ? done : null,
    unit: 'rows',
    percent: job.state === 'succeeded' ? 100 : 0,
    attempt: job.attempts,
    etaSeconds: null,
    message: job.error?.message ?? null,
    updatedAt: job.updatedAt.toISOString(),
  };
}

export function jobView(job: JobRow, progress: Progress) {
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    priority: job.priority,
    request: job.request,
    progress,
    attempts: job.attempts,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    result: job.result
      ? {
          fileName: job.result.fileName,
          contentType: job.result.contentType,
          bytes: job.result.bytes,
          rows: job.result.rows,
          sha256: job.result.sha256,
        }
      : null,
    error: job.error ?? null,
    workflowId: job.workflowId,
    links: jobLinks(job.id),
  };
}

export type JobView = ReturnType<typeof jobView>;
