/** Light activities on the `jobs` queue: the workflow records outcomes in PostgreSQL through these. */
import { ApplicationFailure } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import * as repo from '../db/jobs-repo.js';
import { acquireHeavySlot, releaseHeavySlot } from '../db/limits-repo.js';
import { ErrorType } from '../shared/errors.js';
import type { HeavySlotRequest, JobResult } from '../shared/jobs.js';
import type { ActivityDeps } from './deps.js';

export function createJobRecordActivities(deps: ActivityDeps) {
  const { db } = deps.database;

  async function requireJob(jobId: string) {
    const job = await repo.getJob(db, jobId);
    if (!job) throw ApplicationFailure.nonRetryable(`job ${jobId} does not exist`, ErrorType.JobNotFound);
    return job;
  }

  return {
    async completeJob(jobId: string, result: JobResult): Promise<void> {
      const job = await requireJob(jobId);
      await repo.markJobSucceeded(db, jobId, result, Math.max(job.attempts, 1));
      deps.log.info({ jobId, workflowId: job.workflowId, bytes: result.bytes }, 'job succeeded');
    },
    async failJob(jobId: string, error: { type: string; message: string }): Promise<void> {
      const job = await requireJob(jobId);
      await repo.markJobFailed(db, jobId, { ...error, attempts: job.attempts });
      deps.log.warn({ jobId, workflowId: job.workflowId, error }, 'job failed');
    },
    async cancelJob(jobId: string): Promise<void> {
      const job = await requireJob(jobId);
      await repo.markJobCancelled(db, jobId);
      deps.log.info({ jobId, workflowId: job.workflowId }, 'job cancelled');
    },
    /** Delete a succeeded job's file and mark it expired. Idempotent. */
    async expireJob(jobId: string): Promise<void> {
      const job = await requireJob(jobId);
      if (job.state !== 'succeeded' || !job.result) return;
      await deps.storage.delete(job.result.storageKey);
      // A second artifact (an audio job's captions) goes with it.
      const captionsKey = (job.result as { captionsKey?: unknown }).captionsKey;
      if (typeof captionsKey === 'string') await deps.storage.delete(captionsKey);
      await repo.markJobExpired(db, jobId);
      deps.log.info({ jobId, workflowId: job.workflowId }, 'job expired; file deleted');
    },
    /**
     * Delete a failed job's kept parts and the checkpoint that points at them (a later redrive starts
     * over), unless a redrive already took them over. Idempotent.
     */
    async expireFailedParts(jobId: string): Promise<void> {
      const job = await requireJob(jobId);
      if (job.state !== 'failed' || !job.checkpoint) return;
      if (await repo.findRetryOf(db, jobId)) return;
      await repo.clearCheckpoint(db, jobId);
      await deps.storage.deleteParts(job.partsId ?? jobId);
      deps.log.info({ jobId, workflowId: job.workflowId }, 'failed job parts expired');
    },
    /** Delete a published result that will not be delivered (its job was cancelled). Idempotent. */
    async discardResult(storageKey: string): Promise<void> {
      await deps.storage.delete(storageKey);
      // An audio job's captions are stored beside its file, at `<key>.vtt` (audio activity's publish).
      await deps.storage.delete(`${storageKey}.vtt`);
    },
    async discardParts(jobId: string): Promise<void> {
      const job = await repo.getJob(db, jobId);
      await deps.storage.deleteParts(job?.partsId ?? jobId);
    },
    /**
     * Take one of the user's heavy-activity slots, or fail with the retryable HeavySlotBusy: the
     * workflow's retry policy polls until a slot frees up, without a history event per try.
     */
    async acquireHeavySlot(req: HeavySlotRequest): Promise<void> {
      const got = await acquireHeavySlot(db, req);
      if (!got.acquired) {
        throw ApplicationFailure.create({
          type: ErrorType.HeavySlotBusy,
          message: `user ${req.userId} runs ${got.held} of ${got.limit} heavy jobs`,
          category: ApplicationFailureCategory.BENIGN,
        });
      }
    },
    async releaseHeavySlot(jobId: string): Promise<void> {
      await releaseHeavySlot(db, jobId);
    },
  };
}

export type JobRecordActivities = ReturnType<typeof createJobRecordActivities>;
