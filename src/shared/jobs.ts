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

/** Priority keys of Temporal's task queues: 1 runs first, 5 last; jobs default to 3. */
export const PRIORITY_KEYS = { highest: 1, default: 3, lowest: 5 } as const;

/** How a job's heavy activity is scheduled among other users' work. */
export interface Scheduling {
  /** Temporal priority key of the job's tasks (1..5). */
  priority: number;
  /** Temporal fairness key: tasks are dispatched in turn across keys, so one key cannot starve another. */
  fairnessKey: string;
  /** Heavy activities the user may run at once unless their own limit says otherwise. */
  defaultMaxRunningHeavy: number;
}

/** Input of the export workflow. Everything the workflow needs is here, so it never reads config. */
export interface ExportWorkflowInput {
  jobId: string;
  userId: string;
  tenantId: string;
  request: ExportRequest;
  policy: HeavyActivityPolicy;
  /** Absent on workflows started before scheduling existed: then no slot is taken. */
  scheduling?: Scheduling;
}

/** A request for one of the user's heavy-activity slots. */
export interface HeavySlotRequest {
  jobId: string;
  userId: string;
  kind: JobKind;
  defaultLimit: number;
}

/** Input of the heavy export activity. */
export interface ExportActivityInput {
  jobId: string;
  tenantId: string;
  request: ExportRequest;
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

/** Error recorded on a failed job. */
export interface JobError {
  type: string;
  message: string;
  attempts: number;
}
