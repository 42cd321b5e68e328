import { spawn } from 'node:child_process';
import { OutputTail } from './output-tail.js';
import { freePort, waitForPort } from './ports.js';
import { requireTemporalCli } from './binaries.js';
import { OFFLOAD_SEARCH_ATTRIBUTES } from '../src/shared/search-attributes.js';

export type SearchAttributeType = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

export interface TemporalDevServerOptions {
  port?: number;
  /** A fixed UI port, a free one when omitted, or `false` for `--headless`. */
  uiPort?: number | false;
  /** SQLite file for state that survives restarts; in-memory when omitted. */
  dbFilename?: string;
  /** Extra namespace to create ("default" always exists). */
  namespace?: string;
  /** Extra search attributes; offload's own (src/shared/search-attributes.ts) are always registered. */
  searchAttributes?: Record<string, SearchAttributeType>;
  dynamicConfig?: Record<string, string | number | boolean>;
  logLevel?: string;
}

export interface TemporalDevServer {
  address: string;
  port: number;
  uiUrl?: string;
  stop(): Promise<void>;
  /**
   * SIGKILL, as a crash: no shutdown at all, resolves once the process is gone. With `dbFilename`, a
   * new startTemporalDevServer on the same port and file carries on with the state it had committed.
   */
  kill(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/**
 * Task-queue priority and fairness for the CLI 1.9.1 dev server (Temporal Server 1.32): the new
 * matcher dispatches backlogged tasks by priority key, then in turn across fairness keys.
 * - `matching.enableFairness` is still off by default in 1.32 and is what turns fairness on (it
 *   implies the new matcher): without it test/e2e/fairness.test.ts fails.
 * - `matching.useNewMatcher` defaults to true since Server 1.31, so it is a no-op here; it stays for
 *   the go-installed fallback CLI 1.5.1 (Server 1.29, see tools/binaries.ts), where it is off.
 * Fairness is computed per partition, so a small deployment uses one read and one write partition per
 * task queue. docker-compose.yml sets the same values in the server's dynamic config file.
 */
export const FAIRNESS_DYNAMIC_CONFIG: Record<string, string | number | boolean> = {
  'matching.useNewMatcher': true,
  'matching.enableFairness': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

// The first two are what @temporalio/testing passes, so code tested here behaves like under createLocal().
const DEFAULT_DYNAMIC_CONFIG: Record<string, string | number | boolean> = {
  'frontend.enableUpdateWorkflowExecution': true,
  'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
  ...FAIRNESS_DYNAMIC_CONFIG,
};

/** Spawns `temporal server start-dev` on 127.0.0.1 and resolves once its gRPC port accepts connections. */
export async function startTemporalDevServer(
  opts: TemporalDevServerOptions = {},
): Promise<TemporalDevServer> {
  const cli = requireTemporalCli();
  const port = opts.port ?? (await freePort());
  const uiPort = opts.uiPort === false ? undefined : (opts.uiPort ?? (await freePort()));

  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port)];
  args.push(...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]));
  if (opts.dbFilename) args.push('--db-filename', opts.dbFilename);
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  args.push('--log-level', opts.logLevel ?? 'warn');
  for (const [name, type] of Object.entries({ ...OFFLOAD_SEARCH_ATTRIBUTES, ...opts.searchAttributes })) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  // Merged into one map so a caller's value replaces a default instead of repeating the key.
  for (const [key, value] of Object.entries({ ...DEFAULT_DYNAMIC_CONFIG, ...opts.dynamicConfig })) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }

  const tail = new OutputTail();
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => tail.push(chunk));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  // Not events.once(): it would reject, unhandled, on a spawn error.
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // The server never outlives the process that started it, even one that exits without stopping it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const describe = () => `${cli} ${args.join(' ')}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  let ready: boolean;
  try {
    ready = await waitForPort(port, {
      timeoutMs: START_TIMEOUT_MS,
      abort: () => {
        if (spawnError) return new Error(`Could not run ${describe()}: ${spawnError.message}`);
        if (child.exitCode === null && child.signalCode === null) return undefined;
        return new Error(
          `Temporal dev server exited (${child.exitCode ?? child.signalCode}) before accepting connections.\n` +
            `Command: ${describe()}\nLast output:\n${tail.text()}`,
        );
      },
    });
  } catch (err) {
    await stop();
    throw err;
  }
  if (!ready) {
    await stop();
    throw new Error(
      `Temporal dev server did not accept connections on 127.0.0.1:${port} within ${START_TIMEOUT_MS / 1000} s.\n` +
        `Command: ${describe()}\nLast output:\n${tail.text()}`,
    );
  }

  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) return;
    child.kill('SIGKILL');
    await exited;
  };

  return {
    address: `127.0.0.1:${port}`,
    port,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    stop,
    kill,
  };
}
