/**
 * Sends an activity's progress to its own workflow as a signal, throttled so that the workflow's
 * history stays bounded: at most one signal a second and only after at least 0.5 % more work, so a
 * job of any size adds at most about 200 progress events, and progress is never more than a second
 * (or 0.5 %) behind.
 */
import type { Context } from '@temporalio/activity';
import { PROGRESS_SIGNAL } from '../../shared/temporal.js';
import type { ProgressReport } from '../../shared/jobs.js';

const MIN_INTERVAL_MS = 1000;
const MIN_STEP = 0.005;

export class ProgressReporter {
  private lastSentAt = 0;
  private lastSentFraction = -1;
  private readonly startedAt = Date.now();

  constructor(
    private readonly ctx: Context,
    /** Work already done when this attempt started, so the rate counts this attempt only. */
    private readonly startDone: number,
  ) {}

  /** Report progress; sends only when the throttle allows, or when `force` is set. */
  async report(done: number, total: number, force = false): Promise<void> {
    const now = Date.now();
    const fraction = total > 0 ? done / total : 0;
    if (!force && (now - this.lastSentAt < MIN_INTERVAL_MS || fraction - this.lastSentFraction < MIN_STEP))
      return;
    this.lastSentAt = now;
    this.lastSentFraction = fraction;
    const elapsed = (now - this.startedAt) / 1000;
    const report: ProgressReport = {
      done,
      total,
      attempt: this.ctx.info.attempt,
      at: now,
      rate: elapsed > 0.2 ? (done - this.startDone) / elapsed : null,
    };
    const workflowId = this.ctx.info.workflowExecution?.workflowId;
    if (!workflowId) return;
    try {
      await this.ctx.client.workflow.getHandle(workflowId).signal(PROGRESS_SIGNAL, report);
    } catch (err) {
      // Progress is advisory: a failed signal must never fail the work itself.
      this.ctx.log.warn('progress signal failed', { workflowId, error: (err as Error).message });
    }
  }
}
