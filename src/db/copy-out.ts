/**
 * `COPY ... TO STDOUT` as a Node stream, working around a postgres.js 3.4 bug (porsager/postgres#499,
 * fix proposed in PR #1016): when backpressure pauses the socket while the final CopyData and CopyDone
 * arrive in the same chunk, the stream ends with the socket still paused, and every later query on
 * that connection hangs. The stream's own `_read` is what resumes the socket, so call it once more
 * when the stream has ended.
 */
import type { Readable } from 'node:stream';
import type { Sql } from './client.js';

export async function copyOut(sql: Sql, statement: string): Promise<Readable> {
  const stream = await sql.unsafe(statement).readable();
  const resumeSocket = () => stream._read(0);
  stream.once('end', resumeSocket);
  stream.once('close', resumeSocket);
  return stream;
}
