/** Keeps the last lines of a child process's output, so failures can show them without logging everything. */
export class OutputTail {
  private lines: string[] = [];
  private partial = '';

  constructor(private readonly maxLines = 40) {}

  push(chunk: Buffer | string): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts.filter((line) => line.trim() !== ''));
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
  }

  /** The last non-empty line (e.g. a tool's final error), for one-line messages. */
  lastLine(): string {
    return this.partial.trim() || this.lines.at(-1)?.trim() || '';
  }

  /** The kept lines, indented for embedding in an error message. */
  text(): string {
    const all = this.partial.trim() ? [...this.lines, this.partial] : this.lines;
    return all.length ? all.map((line) => `  | ${line}`).join('\n') : '  | (no output)';
  }
}
