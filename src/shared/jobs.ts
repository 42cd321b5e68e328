/** Job kinds, states and the payloads that cross the API / workflow / activity boundary. Types only. */

export const JOB_KINDS = ['export', 'audio'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'expired'];

export const EXPORT_FORMATS = ['csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What a user asked for when creating an export. */
export interface ExportRequest {
  dataset: string;
  format: ExportFormat;
  columns?: string[];
  fileName?: string;
}

/** Retry and timeout policy for the heavy activity, chosen by the API from its config. */
export interface HeavyActivityPolicy {
  heartbeatTimeoutMs: number;
  startToCloseTimeoutMs: number;
  maxAttempts: number;
  initialRetryIntervalMs: number;
  maxRetryIntervalMs: number;
}

/** Input of the export workflow. Everything the workflow needs is here, so it never reads config. */
export interface ExportWorkflowInput {
  jobId: string;
  userId: string;
  tenantId: string;
  request: ExportRequest;
  policy: HeavyActivityPolicy;
  /** A redrive: where the parts of the earlier run are and the checkpoint to resume from. */
  resume?: ResumeFrom;
}

/** A checkpoint persisted by an earlier run, used when the activity has no heartbeat details. */
export interface ResumeFrom {
  partsId: string;
  checkpoint: ExportCheckpoint | null;
}

/** Input of the heavy export activity. */
export interface ExportActivityInput {
  jobId: string;
  tenantId: string;
  request: ExportRequest;
  /** Storage id of the parts (defaults to jobId; a redrive continues the earlier run's parts). */
  partsId?: string;
  /** Checkpoint to resume from when there are no heartbeat details (a redrive). */
  resumeFrom?: ExportCheckpoint | null;
}

/** What the heavy export activity produces. */
export interface ExportResult {
  storageKey: string;
  fileName: string;
  contentType: string;
  bytes: number;
  rows: number;
  sha256: string;
}

/** Checkpoint carried in heartbeat details: parts 0..partsDone-1 are stored, rows after `cursor` remain. */
export interface ExportCheckpoint {
  partsDone: number;
  cursor: string | null;
  rowsDone: number;
  total: number;
}

/** Live progress of a job, answered by the workflow's progress query. */
export interface Progress {
  state: JobState;
  done: number;
  total: number | null;
  unit: 'rows' | 'characters';
  percent: number;
  attempt: number;
  etaSeconds: number | null;
  message: string | null;
  updatedAt: string | null;
}

/** What a heavy activity reports to its workflow (throttled signal). */
export interface ProgressReport {
  done: number;
  total: number;
  attempt: number;
  /** Milliseconds since the epoch when the activity measured this. */
  at: number;
  /** Rows per second over the current attempt, for the ETA. */
  rate: number | null;
}

/** Where the end of a job is announced. */
export interface JobNotify {
  callbackUrl?: string;
  email?: string;
}

/** The outcome a notification announces. */
export type JobEventType = 'job.succeeded' | 'job.failed' | 'job.cancelled';

/** Error recorded on a failed job. */
export interface JobError {
  type: string;
  message: string;
  attempts: number;
}
