/**
 * The PDF table layout and page rendering, shared by the render thread and the main thread (the empty
 * document). Plain PDF 1.4 with the standard Helvetica fonts (WinAnsi, no embedding); text outside
 * Latin-1 prints as '?'. A4 landscape, a title, the generation time and the header row on every page,
 * the page number in the footer.
 */
import zlib from 'node:zlib';

export interface PdfColumn {
  label: string;
  width: number;
  align: 'left' | 'right';
}

export interface PdfLayout {
  title: string;
  subtitle: string;
  columns: PdfColumn[];
  rowsPerPage: number;
}

const PAGE_W = 842;
const PAGE_H = 595;
const MARGIN = 30;
const TABLE_TOP = 522;
const TABLE_BOTTOM = 40;

// Helvetica advance widths (1/1000 em) for ASCII 32..126, from the standard AFM metrics.
const HELVETICA = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556,
  556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278,
  500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
  556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
  278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

function charWidth(code: number): number {
  return code >= 32 && code <= 126 ? HELVETICA[code - 32]! : 556;
}

export function textWidth(s: string, size: number): number {
  let w = 0;
  for (let i = 0; i < s.length; i++) w += charWidth(s.charCodeAt(i));
  return (w * size) / 1000;
}

/** Shortens `s` to fit `max` points, marking the cut with '...'. */
function fit(s: string, size: number, max: number): string {
  if (textWidth(s, size) <= max) return s;
  let out = s;
  while (out.length > 0 && textWidth(out + '...', size) > max) out = out.slice(0, -1);
  return out + '...';
}

/** A PDF literal string: Latin-1 bytes, with \ ( ) escaped and anything else outside Latin-1 as '?'. */
function lit(s: string): string {
  let out = '(';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\' || ch === '(' || ch === ')') out += '\\' + ch;
    else if (code < 32) out += ' ';
    else if (code > 255 || (code >= 127 && code < 160)) out += '?';
    else out += ch;
  }
  return out + ')';
}

export interface Geometry {
  x: number[];
  w: number[];
  lineHeight: number;
  fontSize: number;
}

export function geometry(layout: PdfLayout): Geometry {
  const total = layout.columns.reduce((s, c) => s + c.width, 0);
  const usable = PAGE_W - 2 * MARGIN;
  const x: number[] = [];
  const w: number[] = [];
  let at = MARGIN;
  for (const c of layout.columns) {
    const width = (c.width / total) * usable;
    x.push(at);
    w.push(width);
    at += width;
  }
  const lineHeight = Math.min(14, (TABLE_TOP - 8 - TABLE_BOTTOM) / layout.rowsPerPage);
  return { x, w, lineHeight, fontSize: Math.max(3, Math.min(7, lineHeight * 0.7)) };
}

function cellOps(g: Geometry, layout: PdfLayout, cells: string[], y: number, size: number): string {
  let ops = '';
  layout.columns.forEach((col, i) => {
    const text = fit(cells[i] ?? '', size, g.w[i]! - 4);
    if (text === '') return;
    const x = col.align === 'right' ? g.x[i]! + g.w[i]! - 2 - textWidth(text, size) : g.x[i]! + 2;
    ops += `1 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)} Tm ${lit(text)} Tj\n`;
  });
  return ops;
}

/** The compressed content stream of page `pageNo` (1-based) holding `rows`. */
export function renderPage(layout: PdfLayout, g: Geometry, pageNo: number, rows: string[][]): Buffer {
  const size = g.fontSize;
  let ops =
    `BT /F2 14 Tf 1 0 0 1 ${MARGIN} ${PAGE_H - 36} Tm ${lit(layout.title)} Tj ET\n` +
    `BT /F1 8 Tf 1 0 0 1 ${MARGIN} ${PAGE_H - 50} Tm ${lit(layout.subtitle)} Tj ET\n` +
    `BT /F2 ${size.toFixed(2)} Tf\n${cellOps(
      g,
      layout,
      layout.columns.map((c) => c.label),
      TABLE_TOP,
      size,
    )}ET\n` +
    `0.5 w ${MARGIN} ${TABLE_TOP - 4} m ${PAGE_W - MARGIN} ${TABLE_TOP - 4} l S\n` +
    `BT /F1 ${size.toFixed(2)} Tf\n`;
  rows.forEach((cells, r) => {
    ops += cellOps(g, layout, cells, TABLE_TOP - 4 - g.lineHeight * (r + 1), size);
  });
  const footer = `Page ${pageNo}`;
  ops += `ET\nBT /F1 8 Tf 1 0 0 1 ${(PAGE_W - MARGIN - textWidth(footer, 8)).toFixed(2)} 20 Tm ${lit(footer)} Tj ET\n`;
  return zlib.deflateSync(Buffer.from(ops, 'latin1'));
}

export function streamObject(num: number, data: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`${num} 0 obj\n<< /Length ${data.length} /Filter /FlateDecode >>\nstream\n`, 'latin1'),
    data,
    Buffer.from('\nendstream\nendobj\n', 'latin1'),
  ]);
}

export function pageObject(num: number, parent: number, contents: number): Buffer {
  return Buffer.from(
    `${num} 0 obj\n<< /Type /Page /Parent ${parent} 0 R /MediaBox [0 0 ${PAGE_W} ${PAGE_H}] ` +
      `/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents ${contents} 0 R >>\nendobj\n`,
    'latin1',
  );
}

/** An xref section for objects first..first+offsets.length-1, and its trailer. */
export function xrefSection(
  first: number,
  offsets: number[],
  at: number,
  size: number,
  prev: number | undefined,
): Buffer {
  const entries = offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n\r\n`).join('');
  return Buffer.from(
    `xref\n${first} ${offsets.length}\n${entries}trailer\n<< /Size ${size} /Root 1 0 R /Info 5 0 R` +
      `${prev === undefined ? '' : ` /Prev ${prev}`} >>\nstartxref\n${at}\n%%EOF\n`,
    'latin1',
  );
}

export function infoString(s: string): string {
  return lit(s);
}
