/** Quoting for the few statements that cannot take bind parameters (COPY). */

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('NUL byte in SQL literal');
  return `'${value.replaceAll("'", "''")}'`;
}

/** A bigint key as SQL text; refuses anything that is not an integer. */
export function keyLiteral(value: string): string {
  if (!/^-?\d{1,19}$/.test(value)) throw new Error(`not an integer key: ${value}`);
  return value;
}
