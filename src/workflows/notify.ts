/**
 * Announce the end of a job: a signed webhook and/or an e-mail, each a light activity on the workflow's
 * own queue (`jobs`) that Temporal retries with exponential backoff for up to a day, durably (a worker restart or a day-long
 * outage of the receiver loses nothing). Any job workflow calls notifyJobEnd as its last step; a failed
 * notification never changes the job's outcome.
 */
import { log, proxyActivities } from '@temporalio/workflow';
import type { NotifyActivities } from '../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors.js';
import type { JobEventType } from '../shared/jobs.js';

// Light activities run on the workflow's own task queue (`jobs`, or `${TASK_QUEUE_PREFIX}jobs`).
const plan = proxyActivities<NotifyActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

const deliver = proxyActivities<NotifyActivities>({
  startToCloseTimeout: '1m',
  // Retried for a day: 2 s, 4 s, 8 s … capped at an hour between attempts.
  scheduleToCloseTimeout: '24h',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1h',
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
});

/** The webhook-id of a job event: the same for every attempt, so receivers can deduplicate. */
export function eventIdFor(jobId: string, type: JobEventType): string {
  return `evt_${jobId.replace(/^job_/, '')}_${type.replace('job.', '')}`;
}

export async function notifyJobEnd(jobId: string, type: JobEventType): Promise<void> {
  let wanted: { webhook: boolean; email: boolean };
  try {
    wanted = await plan.planNotifications(jobId);
  } catch (err) {
    // The outcome is already recorded; a job that cannot be read (deleted meanwhile) has nobody to tell.
    log.warn('notifications not planned', { jobId, error: String(err) });
    return;
  }
  const input = { jobId, eventId: eventIdFor(jobId, type), eventType: type };
  const sends: Promise<void>[] = [];
  if (wanted.webhook) sends.push(deliver.deliverWebhook(input));
  if (wanted.email) sends.push(deliver.sendJobEmail(input));
  const results = await Promise.allSettled(sends);
  for (const r of results) {
    if (r.status === 'rejected') log.warn('notification gave up', { jobId, error: String(r.reason) });
  }
}
