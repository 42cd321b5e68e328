/**
 * Structured logs (pino): JSON lines by default, children carry context such as jobId and workflowId.
 * `format: 'pretty'` renders them for a terminal through pino-pretty (a development dependency).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level: string; name: string; format?: 'json' | 'pretty' }): Logger {
  return pino({
    name: opts.name,
    level: opts.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(opts.format === 'pretty'
      ? {
          transport: {
            target: 'pino-pretty',
            options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
  });
}
