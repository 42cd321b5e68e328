/** The public representation of a job (the `Job` schema of routes/job-schemas.ts), with links. */
import type { JobRow } from '../../db/jobs-repo.js';
import type {
  AudioRequest,
  AudioResult,
  ExportResult,
  JobRequest,
  JobResult,
  Progress,
} from '../../shared/jobs.js';

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

/** How many units (rows, characters) a job's result holds. */
function doneOf(job: JobRow): number {
  if (!job.result) return 0;
  return job.kind === 'audio' ? (job.result as AudioResult).characters : (job.result as ExportResult).rows;
}

/**
 * Progress from the job row alone, for a job whose workflow cannot answer: not started yet (the
 * workflow start follows the 202), finished, or no worker up.
 */
export function progressFromRow(job: JobRow): Progress {
  const done = job.state === 'succeeded' ? doneOf(job) : 0;
  return {
    state: job.state,
    done,
    total: job.state === 'succeeded' ? done : null,
    unit: job.kind === 'audio' ? 'characters' : 'rows',
    percent: job.state === 'succeeded' ? 100 : 0,
    attempt: job.attempts,
    etaSeconds: null,
    message: job.error?.message ?? null,
    updatedAt: job.updatedAt.toISOString(),
  };
}

/** The request as shown back: an audio job's text is summarised by its length, not repeated. */
function requestView(job: JobRow) {
  if (job.kind !== 'audio') return job.request as Exclude<JobRequest, AudioRequest>;
  const { text, ...rest } = job.request as AudioRequest;
  return { ...rest, characters: text.length };
}

function resultView(result: JobResult) {
  const common = {
    fileName: result.fileName,
    contentType: result.contentType,
    bytes: result.bytes,
    sha256: result.sha256,
  };
  if ('rows' in result) return { ...common, rows: result.rows };
  const { durationSeconds, sampleRate, characters, chunks, engine, format } = result;
  return { ...common, format, durationSeconds, sampleRate, characters, chunks, engine };
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
    result: job.result ? resultView(job.result) : null,
    error: job.error ?? null,
    notify: { callbackUrl: job.notify?.callbackUrl ?? null, email: job.notify?.email ?? null },
    retryOf: job.retryOf ?? null,
    workflowId: job.workflowId,
    links: jobLinks(job.id),
  };
}

export type JobView = ReturnType<typeof jobView>;
