/** A test client of the job WebSocket (`/v1/ws`): collects its messages and its close code. */
import WebSocket from 'ws';
import { eventually } from './stack.js';

export interface WsMessage {
  type: string;
  message?: string;
  jobId?: string;
  state?: string;
  code?: string;
  following?: string[] | 'all';
  progress?: { done: number };
}

/** Open a socket to the API at `baseUrl` (upgrade headers optional) once it is open. */
export async function openJobSocket(baseUrl: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${baseUrl.replace('http', 'ws')}/v1/ws`, { headers });
  const messages: WsMessage[] = [];
  let closeCode: number | undefined;
  ws.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()) as WsMessage));
  ws.on('close', (code) => (closeCode = code));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    messages,
    closeCode: () => closeCode,
    send: (m: unknown) => ws.send(JSON.stringify(m)),
    waitFor: (pred: (m: WsMessage) => boolean, timeoutMs = 30_000) =>
      eventually(() => Promise.resolve(messages.find(pred)), timeoutMs, 20),
    /** Resolves with `ready` once following, or with the close code when refused. */
    outcome: () =>
      eventually(() =>
        Promise.resolve(
          closeCode !== undefined
            ? ({ closed: closeCode } as const)
            : messages.some((m) => m.type === 'ready')
              ? ({ ready: true } as const)
              : undefined,
        ),
      ),
  };
}
