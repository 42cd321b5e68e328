/**
 * PDF: each part is rendered in a worker thread (pdf-thread.ts) and stored as an incremental update
 * of the document: its page-tree node, its pages and its own xref section chained by /Prev. The
 * checkpoint carries the byte count, the next object number and the last xref offset, so a retry
 * renders the next part exactly where the previous attempt stopped. The root page tree and the final
 * trailer are written at publish time. Parts hold whole pages.
 */
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { quoteIdent } from '../../../db/sql-text.js';
import { runsFromSource, siblingModule } from '../../../lib/module-file.js';
import type { ColumnDef } from '../../../datasets/registry.js';
import { EXPORT_CONTENT_TYPES, type PdfState } from '../../../shared/jobs.js';
import type { ExportSpec, FormatWriter } from './format.js';
import {
  geometry,
  infoString,
  pageObject,
  renderPage,
  streamObject,
  xrefSection,
  type PdfLayout,
} from './pdf-layout.js';
import type { PdfThreadMessage, PdfThreadTask } from './pdf-thread.js';

const FROM_SOURCE = runsFromSource(import.meta.url);
const THREAD_URL = siblingModule(import.meta.url, './pdf-thread');

/** A thread running pdf-thread; from TypeScript sources (tsx), the thread registers tsx's loader first. */
function startThread(task: PdfThreadTask): Worker {
  // A part's rows stream through in batches, so the thread needs little heap; a small young
  // generation makes it collect often instead of growing the worker process's peak RSS.
  const resourceLimits = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 };
  if (!FROM_SOURCE) return new Worker(THREAD_URL, { workerData: task, resourceLimits });
  const boot =
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD_URL.href)}); })` +
    `.catch((err) => { console.error(err); process.exit(1); });`;
  return new Worker(boot, { eval: true, workerData: task, resourceLimits });
}

function cellSql(c: ColumnDef, i: number): string {
  const col = quoteIdent(c.column);
  switch (c.type) {
    case 'timestamp':
      return `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as c${i}`;
    case 'decimal':
      return `${c.decimals === undefined ? col : `round(${col}::numeric, ${c.decimals})`}::text as c${i}`;
    default:
      return `${col}::text as c${i}`;
  }
}

/** Objects 1 (catalog), 3 and 4 (fonts) and 5 (info), and the first xref section. */
function documentHead(title: string, generatedAt: string): { bytes: Buffer; xref: number } {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let at = parts[0]!.length;
  const offsets: Record<number, number> = {};
  const obj = (num: number, body: string) => {
    offsets[num] = at;
    const b = Buffer.from(`${num} 0 obj\n${body}\nendobj\n`, 'latin1');
    parts.push(b);
    at += b.length;
  };
  const date = generatedAt.replace(/[-:T]/g, '').slice(0, 14);
  obj(1, '<< /Type /Catalog /Pages 2 0 R >>');
  obj(3, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
  obj(4, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>');
  obj(5, `<< /Title ${infoString(title)} /Producer (offload) /CreationDate (D:${date}Z) >>`);
  const entry = (o: number) => `${String(o).padStart(10, '0')} 00000 n\r\n`;
  const xref =
    `xref\n0 2\n0000000000 65535 f\r\n${entry(offsets[1]!)}3 3\n${entry(offsets[3]!)}${entry(offsets[4]!)}${entry(offsets[5]!)}` +
    `trailer\n<< /Size 6 /Root 1 0 R /Info 5 0 R >>\nstartxref\n${at}\n%%EOF\n`;
  parts.push(Buffer.from(xref, 'latin1'));
  return { bytes: Buffer.concat(parts), xref: at };
}

function runThread(task: PdfThreadTask): {
  body: Readable;
  done: Promise<{ bytes: number; lastXref: number; nextObject: number }>;
} {
  const worker = startThread(task);
  let settle!: {
    resolve: (v: { bytes: number; lastXref: number; nextObject: number }) => void;
    reject: (e: Error) => void;
  };
  const done = new Promise<{ bytes: number; lastXref: number; nextObject: number }>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let finished = false;
  const body = new Readable({
    read() {
      worker.postMessage('more');
    },
    destroy(err, cb) {
      if (!finished) void worker.terminate();
      cb(err);
    },
  });
  worker.on('message', (m: PdfThreadMessage) => {
    if (m.type === 'chunk') body.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    else if (m.type === 'done') {
      finished = true;
      settle.resolve(m);
      body.push(null);
      void worker.terminate();
    } else {
      const err = new Error(`PDF render thread: ${m.message}`);
      settle.reject(err);
      body.destroy(err);
    }
  });
  worker.on('error', (err) => {
    settle.reject(err);
    body.destroy(err);
  });
  worker.on('exit', (code) => {
    if (!finished) {
      const err = new Error(`PDF render thread exited with ${code}`);
      settle.reject(err);
      body.destroy(err);
    }
  });
  done.catch(() => {});
  return { body, done };
}

export function pdfWriter(
  spec: ExportSpec,
  opts: { rowsPerPage: number; databaseUrl: string; connection: Record<string, string> },
): FormatWriter {
  const layout: PdfLayout = {
    title: spec.request.title ?? spec.ds.title,
    subtitle: `Generated ${spec.generatedAt.replace('T', ' ').slice(0, 19)} UTC`,
    columns: spec.cols.map((c) => ({
      label: c.label,
      width: c.width ?? 1,
      align: c.type === 'integer' || c.type === 'decimal' ? 'right' : 'left',
    })),
    rowsPerPage: opts.rowsPerPage,
  };
  const head = documentHead(layout.title, spec.generatedAt);
  const select = spec.cols.map(cellSql).join(', ');
  return {
    contentType: EXPORT_CONTENT_TYPES.pdf,
    extension: 'pdf',
    independentParts: false,
    initialState: (): PdfState => ({
      kind: 'pdf',
      bytes: head.bytes.length,
      nextObject: 6,
      pages: 0,
      lastXref: head.xref,
      partNodes: [],
    }),
    prefix: () => head.bytes,
    partRows: (_before, configured) =>
      Math.max(1, Math.round(configured / opts.rowsPerPage)) * opts.rowsPerPage,
    part({ lower, upper, rows, state }) {
      if (state?.kind !== 'pdf') throw new Error('pdf part without pdf state');
      const pages = Math.ceil(rows / opts.rowsPerPage);
      const { body, done } = runThread({
        databaseUrl: opts.databaseUrl,
        connection: opts.connection,
        query: spec.query.range(select, lower, upper),
        layout,
        firstPage: state.pages + 1,
        firstObject: state.nextObject,
        offset: state.bytes,
        prevXref: state.lastXref,
        pages,
      });
      let result: { bytes: number; lastXref: number; nextObject: number } | undefined;
      done.then((r) => (result = r)).catch(() => {});
      return Promise.resolve({
        body,
        after: (): PdfState => {
          if (!result) throw new Error('PDF part not finished');
          return {
            kind: 'pdf',
            bytes: state.bytes + result.bytes,
            nextObject: result.nextObject,
            pages: state.pages + pages,
            lastXref: result.lastXref,
            partNodes: [...state.partNodes, state.nextObject],
          };
        },
      });
    },
    suffix(state) {
      if (state?.kind !== 'pdf') throw new Error('pdf suffix without pdf state');
      const out: Buffer[] = [];
      let at = state.bytes;
      const offsets: number[] = [];
      let kids = state.partNodes.map((n) => `${n} 0 R`);
      let count = state.pages;
      let next = state.nextObject;
      const push = (b: Buffer, isObject: boolean) => {
        if (isObject) offsets.push(at);
        out.push(b);
        at += b.length;
      };
      // The root page tree (object 2) and, for an export without rows, one page with the header only.
      const extra: Buffer[] = [];
      if (count === 0) {
        const content = renderPage(layout, geometry(layout), 1, []);
        extra.push(streamObject(next, content), pageObject(next + 1, 2, next));
        kids = [`${next + 1} 0 R`];
        count = 1;
      }
      const xrefFirst = 2;
      push(
        Buffer.from(`2 0 obj\n<< /Type /Pages /Kids [${kids.join(' ')}] /Count ${count} >>\nendobj\n`),
        true,
      );
      const rootXref = at;
      push(xrefSection(xrefFirst, offsets.splice(0), rootXref, next, state.lastXref), false);
      if (extra.length > 0) {
        for (const b of extra) push(b, true);
        push(xrefSection(next, offsets, at, next + 2, rootXref), false);
        next += 2;
      }
      return Buffer.concat(out);
    },
  };
}
