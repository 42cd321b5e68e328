/** A small server-sent-events reader for tests: parses events and comments from a fetch body. */

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseRead {
  events: SseEvent[];
  comments: string[];
  /** True when the server closed the stream. */
  closed: boolean;
}

/** Read a stream until `stop` returns true for the events so far, the server closes it, or `timeoutMs`. */
export async function readSse(
  res: Response,
  stop: (r: SseRead) => boolean = () => false,
  timeoutMs = 30_000,
): Promise<SseRead> {
  const out: SseRead = { events: [], comments: [], closed: false };
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline && !stop(out)) {
      const chunk = await Promise.race([
        reader.read(),
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(1, deadline - Date.now()))),
      ]);
      if (chunk === 'timeout') break;
      if (chunk.done) {
        out.closed = true;
        break;
      }
      buf += decoder.decode(chunk.value, { stream: true });
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const ev: SseEvent = { event: 'message', data: '' };
        let isEvent = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) {
            out.comments.push(line.slice(1).trim());
            continue;
          }
          const m = /^(id|event|data):\s?(.*)$/.exec(line);
          if (!m) continue;
          isEvent = true;
          if (m[1] === 'id') ev.id = m[2];
          else if (m[1] === 'event') ev.event = m[2]!;
          else ev.data += m[2];
        }
        if (isEvent) out.events.push(ev);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return out;
}
