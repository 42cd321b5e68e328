import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Asks the kernel for a currently free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not read the allocated port'))));
    });
  });
}

/** Resolves true when something accepts a TCP connection on host:port. */
export async function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Polls until host:port accepts TCP connections; false on timeout. `abort` is checked between
 * attempts so a caller can stop waiting (by throwing its error) as soon as the listener has died.
 */
export async function waitForPort(
  port: number,
  opts: { host?: string; timeoutMs: number; intervalMs?: number; abort?: () => Error | undefined },
): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw aborted;
    if (await canConnect(port, opts.host)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(opts.intervalMs ?? 50);
  }
}
