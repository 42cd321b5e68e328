/** A Content-Disposition header that is safe for any file name (RFC 6266 with an RFC 5987 filename*). */
export function contentDisposition(fileName: string): string {
  const ascii = fileName
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/["\\/;]/g, '_')
    .trim();
  // A name with no ASCII stem ("日本.csv" -> ".csv") falls back to "download" plus its extension.
  const fallback = ascii.length === 0 ? 'download' : ascii.startsWith('.') ? `download${ascii}` : ascii;
  const encoded = encodeURIComponent(fileName).replace(
    /['()*]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
