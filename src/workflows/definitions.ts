/** Messages of the job workflows. The API imports these definitions (not the workflows themselves). */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Progress, ProgressReport } from '../shared/jobs.js';
import { PROGRESS_QUERY, PROGRESS_SIGNAL } from '../shared/temporal.js';

export const progressQuery = defineQuery<Progress>(PROGRESS_QUERY);
export const progressSignal = defineSignal<[ProgressReport]>(PROGRESS_SIGNAL);
