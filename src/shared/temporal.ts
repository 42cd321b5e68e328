/** Names shared by the API, the workflows and the worker: task queues, workflow types, messages, ids. */

/**
 * A task queue's base name. The built-in ones are below; a job kind names its heavy pool's queue (see
 * src/kinds). Deployments and test stacks may prefix every queue (TASK_QUEUE_PREFIX), so the names a
 * worker polls are `${prefix}${base}`.
 */
export type TaskQueue = string;

/** Workflows and light activities. */
export const JOBS_QUEUE: TaskQueue = 'jobs';
/** Heavy export activities. */
export const EXPORTS_QUEUE: TaskQueue = 'exports';
/** Heavy audio activities. */
export const AUDIO_QUEUE: TaskQueue = 'audio';

/** The task queue name a base queue has under a TASK_QUEUE_PREFIX. */
export function prefixedQueue(prefix: string, base: TaskQueue): string {
  return `${prefix}${base}`;
}

export const WorkflowType = {
  export: 'exportWorkflow',
  audio: 'audioWorkflow',
  /** The workflow of every job kind that needs nothing beyond one heavy activity (src/kinds). */
  job: 'jobWorkflow',
  retention: 'retentionWorkflow',
} as const;

/** Query answering the job's live progress. */
export const PROGRESS_QUERY = 'progress';
/** Signal by which a heavy activity reports progress to its workflow. */
export const PROGRESS_SIGNAL = 'reportProgress';

/** The workflow id is derived from the job id so the Temporal UI and the API name the same thing. */
export function workflowIdForJob(jobId: string): string {
  return `offload-${jobId}`;
}

/** The retention workflow of a job: started by the export workflow, it outlives it. */
export function retentionWorkflowId(jobId: string): string {
  return `offload-${jobId}-retention`;
}

/** The expiry of a failed job's kept parts: started when the job fails, it outlives it. */
export function partsRetentionWorkflowId(jobId: string): string {
  return `offload-${jobId}-parts-retention`;
}
