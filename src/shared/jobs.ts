/** Job kinds, states and the payloads that cross the API / workflow / activity boundary. Types only. */

/**
 * A job kind's name (`export`, `audio`, or one a deployment registers, see src/kinds): stored with the
 * job, shown by the API, the Temporal UI and the metrics.
 */
export type JobKind = string;

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'expired'];

export const EXPORT_FORMATS = ['csv', 'ndjson', 'xlsx', 'pdf', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The Content-Type of each export format's file (its writer in src/activities/export/formats says the same). */
export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
  parquet: 'application/vnd.apache.parquet',
};

/** Compressions a CSV or NDJSON export may ask for; the file is then `application/gzip`. */
export const EXPORT_COMPRESSIONS = ['none', 'gzip'] as const;
export type ExportCompression = (typeof EXPORT_COMPRESSIONS)[number];
/** Content-Type of a compressed export (the file is a .gz; no Content-Encoding is claimed). */
export const GZIP_CONTENT_TYPE = 'application/gzip';

/** A half-open range filter: `from` <= value < `to`; either end may be left open. */
export interface RangeFilter {
  from?: string | number;
  to?: string | number;
}

/** Filters by name: a range, a list of allowed values, or one value (equality, or a text prefix). */
export type ExportFilters = Record<string, RangeFilter | string[] | string | number | boolean>;

export interface ExportSort {
  column: string;
  direction: 'asc' | 'desc';
}

/** How big and how long an export is expected to be, and what each number is based on. */
export interface ExportEstimate {
  /** `exact`: counted; `planner`: PostgreSQL's estimate (too many rows to count cheaply). */
  rows: { value: number; method: 'exact' | 'planner' };
  /** `observed`: bytes per row of recent exports of this dataset and format; `guess`: from column types. */
  bytes: { value: number; method: 'observed' | 'guess' };
  /** `observed`: rows per second of recent exports of this dataset and format; `guess`: a typical rate. */
  seconds: { value: number; method: 'observed' | 'guess' };
}

/** What a user asked for when creating an export. */
export interface ExportRequest {
  dataset: string;
  format: ExportFormat;
  columns?: string[];
  filters?: ExportFilters;
  sort?: ExportSort;
  /** CSV only: start the file with a UTF-8 byte-order mark, for Excel. */
  bom?: boolean;
  /** CSV and NDJSON: `gzip` writes one gzip member per part (their concatenation is one .gz file). */
  compression?: ExportCompression;
  /** PDF only: the title on every page; the dataset's title when omitted. */
  title?: string;
  fileName?: string;
  /** Set by the API when it accepts the export (not a body field): progress uses its rows until counted. */
  estimate?: ExportEstimate;
}

export const AUDIO_FORMATS = ['wav', 'mp3', 'ogg'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

/** Speaking-rate multiplier bounds (1 = the engine's normal rate). */
export const AUDIO_RATE_RANGE = { min: 0.5, max: 2.5 } as const;
/** Pitch bounds, 50 = the voice's normal pitch. */
export const AUDIO_PITCH_RANGE = { min: 0, max: 100 } as const;

/** What a user asked for when creating speech audio (the voice is resolved by the API). */
export interface AudioRequest {
  text: string;
  voice: string;
  rate: number;
  pitch: number;
  format: AudioFormat;
  fileName?: string;
}

/** What a job was asked to do: its kind's request (ExportRequest, AudioRequest, …), stored as JSON. */
export type JobRequest = object;

/** Retry and timeout policy for the heavy activity, chosen by the API from its config. */
export interface HeavyActivityPolicy {
  heartbeatTimeoutMs: number;
  startToCloseTimeoutMs: number;
  maxAttempts: number;
  initialRetryIntervalMs: number;
  maxRetryIntervalMs: number;
  /** A failed job's kept parts expire this long after it failed (absent in older workflow inputs: kept). */
  failedPartsRetentionMs?: number;
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
  /** How long the result is kept once published; then the file is deleted and the job is `expired`. */
  retentionMs?: number;
  /** A redrive: where the parts of the earlier run are and the checkpoint to resume from. */
  resume?: ResumeFrom;
  /** Absent on workflows started before scheduling existed: then no slot is taken. */
  scheduling?: Scheduling;
  /** Task queue of the heavy activity; `exports` when absent (workflows started before it existed). */
  heavyQueue?: string;
}

/** A checkpoint persisted by an earlier run, used when the activity has no heartbeat details. */
export interface ResumeFrom {
  partsId: string;
  checkpoint: ExportCheckpoint | null;
}

/** A request for one of the user's heavy-activity slots. */
export interface HeavySlotRequest {
  jobId: string;
  userId: string;
  kind: JobKind;
  defaultLimit: number;
}

/** Input of the retention workflow that expires one job's result. */
export interface RetentionWorkflowInput {
  jobId: string;
  retentionMs: number;
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

/** What every heavy activity produces: one published file, downloadable at the job's download link. */
export interface HeavyResult {
  storageKey: string;
  fileName: string;
  contentType: string;
  bytes: number;
  sha256: string;
}

/** What the heavy export activity produces. */
export interface ExportResult extends HeavyResult {
  rows: number;
}

/** Input of the audio workflow. */
export interface AudioWorkflowInput {
  jobId: string;
  userId: string;
  tenantId: string;
  request: AudioRequest;
  /** Largest chunk of text synthesised at once; fixed per job so every attempt cuts the same chunks. */
  chunkChars: number;
  /** Largest run of chunks encoded by one encoder process (MP3); fixed per job for the same reason. */
  segmentChars: number;
  policy: HeavyActivityPolicy;
  /** Priority, fairness key and the user's heavy-slot limit; absent on workflows started before it existed. */
  scheduling?: Scheduling;
  /** How long the result is kept once published; then the file is deleted and the job is `expired`. */
  retentionMs?: number;
  /** Task queue of the heavy activity; `audio` when absent (workflows started before it existed). */
  heavyQueue?: string;
}

/**
 * Input of `jobWorkflow`, the workflow of a job kind that needs nothing beyond its heavy activity: the
 * activity by name and its input, on the kind's heavy queue, inside the common job lifecycle.
 */
export interface JobWorkflowInput {
  jobId: string;
  userId: string;
  kind: JobKind;
  /** What progress counts (`rows`, `characters`, …). */
  unit: string;
  /** Heavy activity type, registered by the kind's worker module. */
  activity: string;
  /** Its single argument. */
  activityInput: unknown;
  heavyQueue: string;
  /** Shown in the Temporal UI for the heavy activity. */
  summary: string;
  policy: HeavyActivityPolicy;
  scheduling?: Scheduling;
  retentionMs?: number;
  /** Keep a failed job's parts so a redrive can resume; default false (a redrive starts over). */
  keepPartsOnFailure?: boolean;
}

/** Input of the heavy audio activity. */
export interface AudioActivityInput {
  jobId: string;
  request: AudioRequest;
  chunkChars: number;
  segmentChars: number;
}

/** What the heavy audio activity produces. */
export interface AudioResult extends HeavyResult {
  format: AudioFormat;
  durationSeconds: number;
  sampleRate: number;
  characters: number;
  chunks: number;
  /** Engine name and version that produced the samples, e.g. `espeak-ng 1.51`. */
  engine: string;
  /** The voice that spoke it. */
  voice?: string;
  /** sha256 of the voice's model file (Piper), null for engines without one. */
  modelSha256?: string | null;
  /** Where the WebVTT captions are stored (not shown). */
  captionsKey?: string;
  /** The files the job made: the audio and its captions. */
  artifacts?: JobArtifact[];
}

/** One downloadable file of a job's result. */
export interface JobArtifact {
  name: string;
  fileName: string;
  contentType: string;
  bytes: number;
  /** The route that downloads it. */
  href: string;
}

export const CAPTIONS_CONTENT_TYPE = 'text/vtt; charset=utf-8';

/** What a job produced: the common fields; its kind adds its own (rows, duration, …). */
export type JobResult = HeavyResult;

/** One file inside a ZIP container (XLSX), as its central directory needs it. */
export interface ZipEntryState {
  name: string;
  offset: number;
  crc: number;
  compressedSize: number;
  size: number;
}

/** XLSX writer state after the stored parts: bytes so far, closed sheets and the open one. */
export interface XlsxState {
  kind: 'xlsx';
  bytes: number;
  sheets: ZipEntryState[];
  open: ZipEntryState;
}

/** PDF writer state after the stored parts: each part is an incremental update with its own xref. */
export interface PdfState {
  kind: 'pdf';
  bytes: number;
  nextObject: number;
  pages: number;
  /** Byte offset of the newest xref section, for the next section's /Prev. */
  lastXref: number;
  /** Object numbers of the per-part page-tree nodes, in order. */
  partNodes: number[];
}

/**
 * Parquet writer state after the stored parts: bytes so far (`PAR1` and the row groups) and, per row
 * group, `[rows, uncompressed bytes of column 0, compressed bytes of column 0, ...]` (chunk sizes with
 * their page header), from which the footer computes every chunk's offset.
 */
export interface ParquetState {
  kind: 'parquet';
  bytes: number;
  rowGroups: number[][];
}

/**
 * Checkpoint carried in heartbeat details: parts 0..partsDone-1 are stored, rows after `cursor` remain.
 * `cursor` is opaque text (the last row's sort key); `render` is the binary formats' writer state.
 */
export interface ExportCheckpoint {
  partsDone: number;
  cursor: string | null;
  rowsDone: number;
  total: number;
  /** When the first attempt started (ISO); printed as the generation time in PDFs. */
  startedAt?: string;
  render?: XlsxState | PdfState | ParquetState;
  /**
   * CSV and NDJSON (and gzip): each finished part in order, as `GET /v1/jobs/{id}/parts` lists it. Part 0
   * counts the file's prefix (the header, as `partsPrefix` holds it, base64) so the parts concatenate to
   * the file.
   */
  parts?: PartRecord[];
  partsPrefix?: string;
}

/** One finished part of an export: its rows, and the bytes and sha256 it contributes to the file. */
export interface PartRecord {
  rows: number;
  bytes: number;
  sha256: string;
}

/** Live progress of a job, answered by the workflow's progress query. */
export interface Progress {
  state: JobState;
  done: number;
  total: number | null;
  /** What `done` and `total` count: `rows`, `characters`, or a registered kind's unit. */
  unit: string;
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
