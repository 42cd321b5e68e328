/** The public representation of a job (the `Job` schema of routes/job-schemas.ts), with links. */
import type { JobRow } from '../../db/jobs-repo.js';
import { jobKinds } from '../../kinds/index.js';
import type { JobResult, Progress } from '../../shared/jobs.js';

export function jobLinks(id: string) {
  const self = `/v1/jobs/${id}`;
  return {
    self,
    events: `${self}/events`,
    download: `${self}/download`,
    cancel: `${self}/cancel`,
    retry: `${self}/retry`,
    deliveries: `${self}/deliveries`,
  };
}

/**
 * Progress from the job row alone, for a job whose workflow cannot answer: not started yet (the
 * workflow start follows the 202), finished, or no worker up.
 */
export function progressFromRow(job: JobRow): Progress {
  const kind = jobKinds.get(job.kind);
  const done = job.state === 'succeeded' && job.result && kind ? kind.view.done(job.result) : 0;
  return {
    state: job.state,
    done,
    total: job.state === 'succeeded' ? done : null,
    unit: kind?.unit ?? 'items',
    percent: job.state === 'succeeded' ? 100 : 0,
    attempt: job.attempts,
    etaSeconds: null,
    message: job.error?.message ?? null,
    updatedAt: job.updatedAt.toISOString(),
  };
}

/** The request as its kind shows it back (an audio job's text by its length, not repeated). */
function requestView(job: JobRow): object {
  const show = jobKinds.get(job.kind)?.view.showRequest;
  return show ? show(job.request) : job.request;
}

/** The common result fields, and those its kind declares. */
function resultView(job: JobRow, result: JobResult) {
  const own = Object.keys(jobKinds.get(job.kind)?.view.resultFields ?? {});
  const fields = result as unknown as Record<string, unknown>;
  return {
    fileName: result.fileName,
    contentType: result.contentType,
    bytes: result.bytes,
    sha256: result.sha256,
    ...Object.fromEntries(own.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]])),
  };
}

export function jobView(job: JobRow, progress: Progress) {
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    priority: job.priority,
    request: requestView(job),
    progress,
    attempts: job.attempts,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    result: job.result ? resultView(job, job.result) : null,
    error: job.error ?? null,
    notify: { callbackUrl: job.notify?.callbackUrl ?? null, email: job.notify?.email ?? null },
    retryOf: job.retryOf ?? null,
    workflowId: job.workflowId,
    links: jobLinks(job.id),
  };
}

export type JobView = ReturnType<typeof jobView>;
