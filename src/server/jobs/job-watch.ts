/**
 * Watching jobs for SSE and WebSocket clients. However many clients watch one job, one poller per job
 * and API process reads the row and asks Temporal for live progress at most once per interval, and fans
 * the snapshot out to every watcher. The poller stops when the last watcher leaves or the job ends.
 * The hub also holds the process's open streams by API key (`streams`): their per-key cap and the
 * periodic check that closes the streams of a revoked key.
 */
import { createHash } from 'node:crypto';
import { getJob, type JobRow } from '../../db/jobs-repo.js';
import { liveKeyIds } from '../../db/users-repo.js';
import { TERMINAL_STATES, type Progress } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import { StreamGuard } from '../http/stream-guard.js';
import { liveProgress } from './progress.js';
import { jobView, type JobView } from './job-view.js';

export interface JobSnapshot {
  /** Fingerprint of the snapshot; used as the SSE event id, so a resumed stream skips what it saw. */
  id: string;
  jobId: string;
  userId: string;
  terminal: boolean;
  job: JobView;
  progress: Progress;
}

type Listener = (s: JobSnapshot) => void;

interface Watch {
  listeners: Set<Listener>;
  latest?: JobSnapshot;
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

export function snapshotOf(job: JobRow, progress: Progress): JobSnapshot {
  const view = jobView(job, progress);
  const { updatedAt: _ignored, ...stable } = progress;
  const fingerprint = JSON.stringify([job.state, stable, view.result, view.error]);
  return {
    id: `${job.state}.${createHash('sha256').update(fingerprint).digest('base64url').slice(0, 16)}`,
    jobId: job.id,
    userId: job.userId,
    terminal: TERMINAL_STATES.includes(job.state),
    job: view,
    progress,
  };
}

export class JobWatchHub {
  private readonly watches = new Map<string, Watch>();
  private queries = 0;
  /** The SSE and WebSocket streams open on this process, by API key (cap and revocation). */
  readonly streams: StreamGuard;

  constructor(
    private readonly deps: AppDeps,
    private readonly intervalMs: number,
  ) {
    this.streams = new StreamGuard({
      maxPerKey: deps.config.STREAMS_PER_KEY_MAX,
      checkEveryMs: deps.config.STREAMS_KEY_CHECK_MS,
      liveKeys: (keyIds) => liveKeyIds(deps.database.db, keyIds),
      log: deps.log,
    });
  }

  /** Follow a job: the listener gets the latest snapshot at once (if known) and every change after. */
  watch(jobId: string, listener: Listener): () => void {
    let w = this.watches.get(jobId);
    if (!w) {
      w = { listeners: new Set(), stopped: false };
      this.watches.set(jobId, w);
      void this.poll(jobId, w);
    } else if (w.latest) {
      listener(w.latest);
    }
    w.listeners.add(listener);
    const watch = w;
    return () => {
      watch.listeners.delete(listener);
      if (watch.listeners.size === 0) this.stop(jobId, watch);
    };
  }

  /** Progress queries sent to Temporal so far, all jobs together (tests read the difference). */
  get progressQueries(): number {
    return this.queries;
  }

  /** Number of jobs being polled right now. */
  get active(): number {
    return this.watches.size;
  }

  private stop(jobId: string, w: Watch): void {
    w.stopped = true;
    clearTimeout(w.timer);
    if (this.watches.get(jobId) === w) this.watches.delete(jobId);
  }

  private async poll(jobId: string, w: Watch): Promise<void> {
    if (w.stopped) return;
    try {
      const job = await getJob(this.deps.database.db, jobId);
      if (!job) return this.stop(jobId, w);
      if (!TERMINAL_STATES.includes(job.state) && job.workflowStartedAt) this.queries++;
      const snap = snapshotOf(job, await liveProgress(this.deps.temporal, job));
      if (w.stopped) return;
      if (snap.id !== w.latest?.id) {
        w.latest = snap;
        for (const l of [...w.listeners]) l(snap);
      }
      if (snap.terminal) return this.stop(jobId, w);
    } catch (err) {
      this.deps.log.warn({ jobId, err }, 'job watch poll failed; retrying');
    }
    if (!w.stopped) w.timer = setTimeout(() => void this.poll(jobId, w), this.intervalMs);
  }
}
