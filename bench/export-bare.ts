/**
 * The bare libraries rendering the same rows as an offload export, without offload around them: the
 * baseline of bench/export-engine.ts. Reads the tenant's orders by keyset pages of 10,000 (postgres.js)
 * and writes XLSX (exceljs streaming writer), PDF (pdfkit, the table layout of the baselines note) or
 * NDJSON (JSON.stringify per row), or CSV by postgres.js COPY into a file. Run in its own process; prints one JSON line {ms, rows, bytes}.
 * Usage: tsx bench/export-bare.ts csv|xlsx|pdf|ndjson DATABASE_URL TENANT OUT_FILE
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import ExcelJS from 'exceljs';
import PDFDocument from 'pdfkit';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { copyOut } from '../src/db/copy-out.js';

const [format, url, tenant, out] = process.argv.slice(2) as [string, string, string, string];
const sql = postgres(url, { max: 1, connection: { TimeZone: 'UTC' } });
const COLUMNS = [
  'id',
  'customer',
  'email',
  'country',
  'status',
  'currency',
  'amount',
  'item_count',
  'created_at',
];

type Row = Record<string, unknown>;
async function* pages(): AsyncGenerator<Row[]> {
  let last = 0;
  for (;;) {
    const rows = await sql.unsafe<Row[]>(
      `select ${COLUMNS.join(', ')} from orders where tenant_id = $1 and id > $2 order by id limit 10000`,
      [tenant, last],
    );
    if (rows.length === 0) return;
    last = Number(rows.at(-1)!.id);
    yield rows;
  }
}

const started = performance.now();
let rows = 0;
if (format === 'csv') {
  // postgres.js COPY streamed to a file: what Node alone costs on the CSV path, without offload.
  const file = createWriteStream(out);
  const copy = await copyOut(
    sql,
    `copy (select ${COLUMNS.join(', ')} from orders where tenant_id = '${tenant.replaceAll("'", "''")}' order by id) to stdout with (format csv)`,
  );
  await pipeline(copy, file);
  const [n] = await sql<{ n: string }[]>`select count(*)::text as n from orders where tenant_id = ${tenant}`;
  rows = Number(n?.n ?? 0);
} else if (format === 'ndjson') {
  const file = createWriteStream(out);
  for await (const page of pages()) {
    rows += page.length;
    if (!file.write(page.map((r) => JSON.stringify(r)).join('\n') + '\n'))
      await new Promise<void>((r) => file.once('drain', () => r()));
  }
  await new Promise<void>((r) => file.end(r));
} else if (format === 'xlsx') {
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: out, useStyles: true });
  let ws = wb.addWorksheet('orders');
  let inSheet = 0;
  for await (const page of pages()) {
    for (const r of page) {
      if (inSheet === 1_048_575) {
        ws.commit();
        ws = wb.addWorksheet(`orders (${wb.worksheets?.length ?? 2})`);
        inSheet = 0;
      }
      ws.addRow(COLUMNS.map((c) => (c === 'amount' ? Number(r[c]) : r[c]))).commit();
      inSheet++;
      rows++;
    }
  }
  ws.commit();
  await wb.commit();
} else if (format === 'pdf') {
  const doc = new PDFDocument({ size: 'A4', layout: 'landscape', margin: 30 });
  const file = createWriteStream(out);
  doc.pipe(file);
  const widths = [0.8, 1.6, 2, 0.6, 0.8, 0.6, 0.8, 0.5, 1.5];
  const total = widths.reduce((a, b) => a + b, 0);
  const xs: number[] = [];
  let x = 30;
  for (const w of widths) {
    xs.push(x);
    x += (w / total) * 782;
  }
  let onPage = 0;
  let page = 1;
  const header = () => {
    doc.font('Helvetica-Bold').fontSize(14).text('Orders', 30, 30, { lineBreak: false });
    doc.font('Helvetica-Bold').fontSize(7);
    COLUMNS.forEach((c, i) => doc.text(c, xs[i], 70, { lineBreak: false }));
    doc.moveTo(30, 80).lineTo(812, 80).stroke();
    doc.font('Helvetica').fontSize(7);
  };
  header();
  for await (const pageRows of pages()) {
    for (const r of pageRows) {
      if (onPage === 40) {
        doc.fontSize(8).text(`Page ${page}`, 760, 570, { lineBreak: false });
        doc.addPage();
        page++;
        header();
        onPage = 0;
      }
      const y = 86 + onPage * 11.75;
      COLUMNS.forEach((c, i) => {
        const v = r[c] instanceof Date ? r[c].toISOString() : String(r[c]);
        doc.text(v, xs[i], y, { lineBreak: false });
      });
      onPage++;
      rows++;
    }
  }
  doc.end();
  await new Promise<void>((r) => file.on('finish', () => r()));
} else {
  throw new Error(`unknown format ${format}`);
}
const ms = performance.now() - started;
const { size } = await fs.stat(out);
await sql.end();
console.log(JSON.stringify({ ms, rows, bytes: size }));
