/** What `offload` exits with: scripts can tell a failed job, a cancelled one and a usage error apart. */
export const EXIT = {
  /** The command did what it was asked; a followed job succeeded. */
  ok: 0,
  /** Anything else went wrong: API unreachable, wrong URL or key, job not found, download incomplete, … */
  error: 1,
  /** The command line was wrong (unknown flag, missing argument, bad value), or the API refused the request as invalid. */
  usage: 2,
  /** The job failed (or its result expired). */
  jobFailed: 3,
  /** The job was cancelled. */
  jobCancelled: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A mistake on the command line, found before anything was sent. */
export class UsageError extends Error {
  override name = 'UsageError';
}
