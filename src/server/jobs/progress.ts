/** Live progress of a job: the workflow's query while it runs, the database row otherwise. */
import type { Client } from '@temporalio/client';
import type { JobRow } from '../../db/jobs-repo.js';
import { TERMINAL_STATES, type Progress } from '../../shared/jobs.js';
import { PROGRESS_QUERY } from '../../shared/temporal.js';
import { progressFromRow } from './job-view.js';

const QUERY_TIMEOUT_MS = 2000;

export async function liveProgress(temporal: Client, job: JobRow): Promise<Progress> {
  if (TERMINAL_STATES.includes(job.state) || !job.workflowStartedAt) return progressFromRow(job);
  let timer: NodeJS.Timeout | undefined;
  try {
    const query = temporal.workflow.getHandle(job.workflowId).query<Progress>(PROGRESS_QUERY);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('progress query timed out')), QUERY_TIMEOUT_MS);
    });
    const p = await Promise.race([query, timeout]);
    // The row may already be terminal while the workflow finishes its bookkeeping; the row wins then.
    return p.state === 'queued' && job.state === 'running' ? { ...p, state: 'running' } : p;
  } catch {
    return progressFromRow(job);
  } finally {
    clearTimeout(timer);
  }
}
