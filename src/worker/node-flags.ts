/**
 * Node flags a worker process runs with. A worker allocates fast (a COPY hands over one small buffer
 * per row) and keeps little: with V8's default young generation (semi-spaces up to 16 MB each) an
 * exports worker peaked at about 260 MB at a million PDF rows, with 4 MB semi-spaces at about 210 MB,
 * for a few percent of speed (BENCHMARKS.md). V8 reads the flag only at start, so it must be on the
 * command line (package.json, docker-compose.yml, scripts/dev.ts and the benches use this list) or in
 * NODE_OPTIONS.
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

/** The flags of WORKER_NODE_FLAGS this process was started without. */
export function missingWorkerFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  return WORKER_NODE_FLAGS.filter((flag) => !given.includes(flag));
}
