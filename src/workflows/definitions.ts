/**
 * Messages of the job workflows, defined on the names in src/shared/temporal.ts: the API queries
 * PROGRESS_QUERY and the heavy activities signal PROGRESS_SIGNAL by those names, so neither imports this.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Progress, ProgressReport } from '../shared/jobs.js';
import { PROGRESS_QUERY, PROGRESS_SIGNAL } from '../shared/temporal.js';

export const progressQuery = defineQuery<Progress>(PROGRESS_QUERY);
export const progressSignal = defineSignal<[ProgressReport]>(PROGRESS_SIGNAL);
