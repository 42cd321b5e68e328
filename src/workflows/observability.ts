/**
 * What a job workflow shows to operators in the Temporal Web UI: the OffloadState search attribute and
 * a one-line "current details" with the live progress.
 */
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { JobState, Progress } from '../shared/jobs.js';
import { OffloadState } from '../shared/search-attributes.js';

/** Record a state change in the workflow's search attributes (visible to `temporal workflow list`). */
export function publishState(state: JobState): void {
  upsertSearchAttributes([{ key: OffloadState, value: state }]);
}

/** A human line for the UI's "current details", e.g. "running: 42% (42,000 of 100,000 rows), ETA 12 s". */
export function describeProgress(p: Progress): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const amount =
    p.total === null ? `${fmt(p.done)} ${p.unit}` : `${fmt(p.done)} of ${fmt(p.total)} ${p.unit}`;
  const eta = p.etaSeconds === null ? '' : `, ETA ${p.etaSeconds} s`;
  const attempt = p.attempt > 1 ? `, attempt ${p.attempt}` : '';
  const message = p.message ? ` - ${p.message}` : '';
  return `${p.state}: ${p.percent}% (${amount})${eta}${attempt}${message}`;
}

export function publishProgress(p: Progress): void {
  setCurrentDetails(describeProgress(p));
}
