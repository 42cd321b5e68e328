/** Names shared by the API, the workflows and the worker: task queues, workflow types, messages, ids. */

export const TASK_QUEUES = ['jobs', 'exports', 'audio'] as const;
export type TaskQueue = (typeof TASK_QUEUES)[number];

/** Workflows and light activities. */
export const JOBS_QUEUE: TaskQueue = 'jobs';
/** Heavy export activities. */
export const EXPORTS_QUEUE: TaskQueue = 'exports';
/** Heavy audio activities. */
export const AUDIO_QUEUE: TaskQueue = 'audio';

export const WorkflowType = {
  export: 'exportWorkflow',
  audio: 'audioWorkflow',
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
