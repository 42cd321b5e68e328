/**
 * Worker thread that renders one PDF part: it reads the part's rows over its own connection (a cursor),
 * lays out pages and compresses them, all off the worker's event loop. Bytes go to the parent in
 * chunks, one at a time: the next is sent only when the parent asks for more (backpressure).
 */
import { parentPort, workerData } from 'node:worker_threads';
import postgres from 'postgres';
import { geometry, pageObject, renderPage, streamObject, xrefSection, type PdfLayout } from './pdf-layout.js';

export interface PdfThreadTask {
  databaseUrl: string;
  /** Connection settings (the source's read-only settings and the job's application_name). */
  connection: Record<string, string>;
  /** Selects the part's rows, every cell as text (c0, c1...), in order. */
  query: string;
  layout: PdfLayout;
  /** Page number (1-based) of the part's first page. */
  firstPage: number;
  /** Object number of the part's page-tree node; its pages follow. */
  firstObject: number;
  /** File offset where this part starts, and the previous xref section. */
  offset: number;
  prevXref: number;
  pages: number;
}

export type PdfThreadMessage =
  | { type: 'chunk'; data: Uint8Array }
  | { type: 'done'; bytes: number; lastXref: number; nextObject: number }
  | { type: 'error'; message: string };

const CHUNK = 256 * 1024;

async function run(task: PdfThreadTask): Promise<void> {
  const port = parentPort!;
  let credit = 0;
  let wake: (() => void) | undefined;
  port.on('message', (m: string) => {
    if (m === 'more') {
      credit++;
      wake?.();
    }
  });
  const waitCredit = async () => {
    while (credit === 0) await new Promise<void>((resolve) => (wake = resolve));
    credit--;
  };

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let written = 0;
  const offsets: number[] = [];
  const flush = async () => {
    if (pendingBytes === 0) return;
    await waitCredit();
    const data = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    // Copied, not transferred: a small Buffer may share its memory with Node's buffer pool.
    port.postMessage({ type: 'chunk', data } satisfies PdfThreadMessage);
  };
  const emit = async (b: Buffer, isObject: boolean) => {
    if (isObject) offsets.push(task.offset + written);
    pending.push(b);
    pendingBytes += b.length;
    written += b.length;
    if (pendingBytes >= CHUNK) await flush();
  };

  const node = task.firstObject;
  const kids = [...Array(task.pages).keys()].map((i) => `${node + 2 + 2 * i} 0 R`).join(' ');
  await emit(
    Buffer.from(
      `${node} 0 obj\n<< /Type /Pages /Parent 2 0 R /Kids [${kids}] /Count ${task.pages} >>\nendobj\n`,
    ),
    true,
  );

  const g = geometry(task.layout);
  const sql = postgres(task.databaseUrl, {
    max: 1,
    onnotice: () => {},
    connection: { ...task.connection, TimeZone: 'UTC' },
  });
  let page = 0;
  let rows: string[][] = [];
  const width = task.layout.columns.length;
  const writePage = async () => {
    const content = renderPage(task.layout, g, task.firstPage + page, rows);
    const contentNum = node + 1 + 2 * page;
    await emit(streamObject(contentNum, content), true);
    await emit(pageObject(contentNum + 1, node, contentNum), true);
    page++;
    rows = [];
  };
  try {
    const cursor = sql.unsafe<Record<string, string | null>[]>(task.query).cursor(2000);
    for await (const batch of cursor) {
      for (const r of batch) {
        const cells: string[] = [];
        for (let i = 0; i < width; i++) cells.push(r[`c${i}`] ?? '');
        rows.push(cells);
        if (rows.length === task.layout.rowsPerPage) await writePage();
      }
    }
    if (rows.length > 0) await writePage();
  } finally {
    await sql.end({ timeout: 5 });
  }
  if (page !== task.pages) throw new Error(`expected ${task.pages} pages, rendered ${page}`);
  const xrefAt = task.offset + written;
  const nextObject = node + 1 + 2 * page;
  await emit(xrefSection(node, offsets, xrefAt, nextObject, task.prevXref), false);
  await flush();
  port.postMessage({ type: 'done', bytes: written, lastXref: xrefAt, nextObject } satisfies PdfThreadMessage);
}

run(workerData as PdfThreadTask).catch((err: unknown) => {
  parentPort!.postMessage({
    type: 'error',
    message: (err as Error).stack ?? String(err),
  } satisfies PdfThreadMessage);
});
