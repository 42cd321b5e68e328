/** Processes for integration tests: workers started exactly as in production, and any other command. */
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

export interface ProcessOptions {
  /** Names the process in errors and its log file. */
  name: string;
  cwd: string;
  env: Record<string, string>;
  /** Text of the output line that says the process is ready (a pino message, quoted). */
  ready: string;
}

/**
 * Spawns `argv` and resolves once its output contains `ready`; rejects with the output if it exits
 * first. Everything it prints is kept in a file too, for reading after a failed run.
 */
export async function startProcess(argv: readonly string[], opts: ProcessOptions): Promise<WorkerProcess> {
  const [command, ...args] = argv;
  const child = spawn(command!, args, {
    cwd: opts.cwd,
    // Info level: the test waits for the ready line; the output is kept, not printed.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const logFile = path.join(os.tmpdir(), `offload-${opts.name}-${child.pid}.log`);
  const log = createWriteStream(logFile);
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const started = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(opts.ready)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) =>
      reject(new Error(`${opts.name} exited with ${code} before starting:\n${out}`)),
    );
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

/** A worker from the sources, as `npm run dev` starts one: the worker Node flags, tsx, `--queues`. */
export function startWorkerProcess(queues: string[], env: Record<string, string>): Promise<WorkerProcess> {
  return startProcess(
    [
      process.execPath,
      ...WORKER_NODE_FLAGS,
      '--import',
      'tsx',
      'src/worker/index.ts',
      '--queues',
      queues.join(','),
    ],
    { name: 'worker', cwd: ROOT, env, ready: '"worker started"' },
  );
}
