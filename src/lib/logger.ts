/** Structured JSON logs (pino). Children carry context such as jobId and workflowId. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level: string; name: string }): Logger {
  return pino({
    name: opts.name,
    level: opts.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
