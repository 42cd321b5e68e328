/**
 * XLSX without a spreadsheet library: PostgreSQL renders each row as worksheet XML (`COPY`), Node only
 * deflates it (zlib runs on the libuv thread pool, off the event loop) into storage with backpressure.
 * Each part is an independently compressed deflate segment; the checkpoint carries the running CRC and
 * sizes, so a resumed export continues the same ZIP entry byte for byte. A sheet holds at most
 * EXPORT_XLSX_SHEET_ROWS rows (header included); parts never cross a sheet boundary, and the part that
 * starts a new sheet closes the previous one. The workbook parts and the central directory are written
 * at publish time, from the checkpoint.
 */
import { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { copyOut } from '../../../db/copy-out.js';
import { quoteIdent } from '../../../db/sql-text.js';
import type { ColumnDef } from '../../../datasets/registry.js';
import { EXPORT_CONTENT_TYPES, type XlsxState, type ZipEntryState } from '../../../shared/jobs.js';
import type { ExportSpec, FormatWriter } from './format.js';
import {
  centralDirectory,
  dataDescriptor,
  deflateFinal,
  deflateSegment,
  localHeader,
  wholeEntry,
} from './zip.js';

const NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const REL_NS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const SHEET_CLOSE = Buffer.from('</sheetData></worksheet>');
const BATCH_BYTES = 256 * 1024;

function xmlText(s: string): string {
  return (
    s
      .replaceAll('&', '&amp;')
      .replaceAll('<', '&lt;')
      .replaceAll('>', '&gt;')
      .replaceAll('"', '&quot;')
      // eslint-disable-next-line no-control-regex -- XML 1.0 forbids these characters
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
  );
}

const XML_FORBIDDEN = [
  1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
]
  .map((c) => `chr(${c})`)
  .join(' || ');

/** SQL text of one cell; styles: 0 general, 1 two decimals, 2 date-time, 3 bold header. */
function cellSql(c: ColumnDef): string {
  const col = quoteIdent(c.column);
  switch (c.type) {
    case 'text':
      // Most values need no escaping: one regex test is far cheaper than the replace chain. translate()
      // drops the control characters XML 1.0 forbids (its list is constant-folded).
      return (
        `coalesce('<c t="inlineStr"><is><t xml:space="preserve">' || case when ${col} ~ '[&<>[:cntrl:]]' then ` +
        `translate(replace(replace(replace(replace(replace(${col}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), ` +
        `chr(10), '&#10;'), chr(13), '&#13;'), ${XML_FORBIDDEN}, '') else ${col} end || '</t></is></c>', '<c/>')`
      );
    case 'integer':
      return `coalesce('<c><v>' || ${col}::text || '</v></c>', '<c/>')`;
    case 'decimal':
      return `coalesce('<c s="${c.decimals === 2 ? 1 : 0}"><v>' || ${col}::text || '</v></c>', '<c/>')`;
    case 'timestamp':
      // Excel's serial date: days since 1899-12-30, UTC.
      return `coalesce('<c s="2"><v>' || round(extract(epoch from ${col}) / 86400 + 25569, 10)::text || '</v></c>', '<c/>')`;
    case 'boolean':
      return `coalesce('<c t="b"><v>' || case when ${col} then '1' else '0' end || '</v></c>', '<c/>')`;
  }
}

function sheetHead(cols: ColumnDef[]): Buffer {
  const widths = cols
    .map(
      (c, i) =>
        `<col min="${i + 1}" max="${i + 1}" width="${Math.round((c.width ?? 1) * 12)}" customWidth="1"/>`,
    )
    .join('');
  const header = cols.map((c) => `<c t="inlineStr" s="3"><is><t>${xmlText(c.label)}</t></is></c>`).join('');
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="${NS}">` +
      `<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>` +
      `<cols>${widths}</cols><sheetData>\n<row>${header}</row>\n`,
  );
}

const STYLES = Buffer.from(
  `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="${NS}">` +
    `<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>` +
    `<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>` +
    `<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
    `<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
    `<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
    `<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
    `<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
    `<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>` +
    `<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>` +
    `<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`,
);

function sheetName(base: string, index: number): string {
  const name = base.replace(/[[\]:*?/\\]/g, '_').slice(0, 24);
  return index === 0 ? name : `${name} (${index + 1})`;
}

function workbookFiles(dataset: string, sheetCount: number): [string, Buffer][] {
  const indexes = [...Array(sheetCount).keys()];
  const sheets = indexes
    .map((i) => `<sheet name="${xmlText(sheetName(dataset, i))}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`)
    .join('');
  const rels = indexes
    .map(
      (i) =>
        `<Relationship Id="rId${i + 1}" Type="${REL_NS}/worksheet" Target="worksheets/sheet${i + 1}.xml"/>`,
    )
    .join('');
  const overrides = indexes
    .map(
      (i) =>
        `<Override PartName="/xl/worksheets/sheet${i + 1}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`,
    )
    .join('');
  const xml = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
  return [
    [
      'xl/workbook.xml',
      Buffer.from(`${xml}<workbook xmlns="${NS}" xmlns:r="${REL_NS}"><sheets>${sheets}</sheets></workbook>`),
    ],
    [
      'xl/_rels/workbook.xml.rels',
      Buffer.from(
        `${xml}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels}` +
          `<Relationship Id="rId${sheetCount + 1}" Type="${REL_NS}/styles" Target="styles.xml"/></Relationships>`,
      ),
    ],
    ['xl/styles.xml', STYLES],
    [
      '_rels/.rels',
      Buffer.from(
        `${xml}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
          `<Relationship Id="rId1" Type="${REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
      ),
    ],
    [
      '[Content_Types].xml',
      Buffer.from(
        `${xml}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
          `<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
          `<Default Extension="xml" ContentType="application/xml"/>` +
          `<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
          `<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>` +
          `${overrides}</Types>`,
      ),
    ],
  ];
}

export function xlsxWriter(spec: ExportSpec, sheetRows: number): FormatWriter {
  const perSheet = sheetRows - 1;
  const head = sheetHead(spec.cols);
  const headSegment = deflateSegment(head);
  const rowSql = `'<row>' || ${spec.cols.map(cellSql).join(' || ')} || '</row>'`;

  /** Start sheet `index` at byte `offset`: its local header and the compressed sheet head. */
  function openSheet(index: number, offset: number): { bytes: Buffer; entry: ZipEntryState } {
    const name = `xl/worksheets/sheet${index + 1}.xml`;
    const bytes = Buffer.concat([localHeader(name), headSegment]);
    const entry = {
      name,
      offset,
      crc: zlib.crc32(head),
      size: head.length,
      compressedSize: headSegment.length,
    };
    return { bytes, entry };
  }

  /** Finish the open sheet: the closing XML as the final deflate segment, then the data descriptor. */
  function closeSheet(open: ZipEntryState): { bytes: Buffer; entry: ZipEntryState } {
    const last = deflateFinal(SHEET_CLOSE);
    const entry = {
      ...open,
      crc: zlib.crc32(SHEET_CLOSE, open.crc),
      size: open.size + SHEET_CLOSE.length,
      compressedSize: open.compressedSize + last.length,
    };
    return { bytes: Buffer.concat([last, dataDescriptor(entry)]), entry };
  }

  return {
    contentType: EXPORT_CONTENT_TYPES.xlsx,
    extension: 'xlsx',
    independentParts: false,
    initialState(): XlsxState {
      const first = openSheet(0, 0);
      return { kind: 'xlsx', bytes: first.bytes.length, sheets: [], open: first.entry };
    },
    prefix: () => openSheet(0, 0).bytes,
    partRows: (before, configured) => Math.min(configured, perSheet - (before % perSheet)),
    async part({ conn, lower, upper, rowsBefore, state }) {
      if (state?.kind !== 'xlsx') throw new Error('xlsx part without xlsx state');
      const { bytes } = state;
      let { open } = state;
      const sheets = [...state.sheets];
      let pre = Buffer.alloc(0);
      if (rowsBefore > 0 && rowsBefore % perSheet === 0) {
        const closed = closeSheet(open);
        sheets.push(closed.entry);
        const next = openSheet(sheets.length, bytes + closed.bytes.length);
        pre = Buffer.concat([closed.bytes, next.bytes]);
        open = next.entry;
      }
      const copy = await copyOut(
        conn,
        `copy (${spec.query.range(rowSql, lower, upper)}) to stdout with (format csv, quote e'\\x01', delimiter e'\\x02')`,
      );
      let crc = open.crc;
      let size = open.size;
      let compressed = 0;
      const deflate = zlib.createDeflateRaw({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
      // COPY delivers one message per row; deflating each alone would cost a thread-pool round trip per
      // row. Rows are gathered into batches of about 256 KiB first (and counted into the CRC there).
      let batch: Buffer[] = [];
      let batched = 0;
      const emit = (t: Transform) => {
        const b = Buffer.concat(batch, batched);
        crc = zlib.crc32(b, crc);
        size += b.length;
        batch = [];
        batched = 0;
        t.push(b);
      };
      const gather = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= BATCH_BYTES) emit(this);
          cb();
        },
        flush(cb) {
          if (batched > 0) emit(this);
          cb();
        },
      });
      copy.on('error', (err) => deflate.destroy(err));
      gather.on('error', (err) => deflate.destroy(err));
      copy.pipe(gather).pipe(deflate);
      async function* body() {
        yield pre;
        for await (const chunk of deflate) {
          compressed += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      }
      return {
        body: Readable.from(body(), { objectMode: false }),
        after: (): XlsxState => ({
          kind: 'xlsx',
          bytes: bytes + pre.length + compressed,
          sheets,
          open: { ...open, crc, size, compressedSize: open.compressedSize + compressed },
        }),
      };
    },
    suffix(state) {
      if (state?.kind !== 'xlsx') throw new Error('xlsx suffix without xlsx state');
      const closed = closeSheet(state.open);
      const sheets = [...state.sheets, closed.entry];
      let offset = state.bytes + closed.bytes.length;
      const out: Buffer[] = [closed.bytes];
      const entries = sheets.map((entry) => ({ entry, descriptor: true }));
      for (const [name, data] of workbookFiles(spec.ds.name, sheets.length)) {
        const whole = wholeEntry(name, data, offset);
        out.push(whole.bytes);
        entries.push({ entry: whole.entry, descriptor: false });
        offset += whole.bytes.length;
      }
      out.push(centralDirectory(entries, offset));
      return Buffer.concat(out);
    },
  };
}
