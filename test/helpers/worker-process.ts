/** Worker processes for integration tests, started exactly as in production (`npm run worker`). */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WORKER_NODE_FLAGS } from '../../src/worker/node-flags.js';

export interface WorkerProcess {
  pid: number;
  child: ChildProcess;
  logFile: string;
  output(): string;
  /** SIGKILL: the process dies without any chance to clean up. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the graceful exit. */
  stop(): Promise<number | null>;
}

const ROOT = path.resolve(import.meta.dirname, '../..');

export async function startWorkerProcess(
  queues: string[],
  env: Record<string, string>,
): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    [...WORKER_NODE_FLAGS, '--import', 'tsx', 'src/worker/index.ts', '--queues', queues.join(',')],
    {
      cwd: ROOT,
      // Info level: the test waits for the "worker started" line; the output is kept, not printed.
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  // Everything a worker prints is kept in a file too, for reading after a failed run.
  const logFile = path.join(os.tmpdir(), `offload-worker-${child.pid}.log`);
  const log = createWriteStream(logFile);
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const started = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('"worker started"')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before starting:\n${out}`)));
  });
  await started;
  const exited = once(child, 'exit') as Promise<[number | null]>;
  return {
    pid: child.pid!,
    logFile,
    child,
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await exited;
      return code;
    },
  };
}
