/**
 * The `offload` command line's pieces that need no server: the progress bar on a terminal (rate and ETA),
 * plain lines elsewhere, and the --filter / --sort syntax.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressView, progressMode } from '../../clients/typescript/src/cli/progress.js';
import { parseFilters, parseSort } from '../../clients/typescript/src/cli/filters.js';
import { UsageError } from '../../clients/typescript/src/cli/exit-codes.js';
import type { JobEvent } from '../../clients/typescript/src/index.js';

/** A stream that says it is a terminal, keeping what is written to it. */
function fakeStream(isTTY: boolean) {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & { text(): string };
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  Object.assign(stream, {
    isTTY,
    columns: 200,
    cursorTo: (_x: number, _y?: unknown, cb?: () => void) => (cb?.(), true),
    moveCursor: (_dx: number, _dy: number, cb?: () => void) => (cb?.(), true),
    clearLine: (_dir: number, cb?: () => void) => (cb?.(), true),
    clearScreenDown: (cb?: () => void) => (cb?.(), true),
    text: () => text,
  });
  return stream;
}

const progress = (done: number, etaSeconds: number | null): JobEvent => ({
  type: 'progress',
  id: `running.${done}`,
  data: {
    jobId: 'job_1',
    state: 'running',
    done,
    total: 40_000,
    percent: Math.floor((done / 40_000) * 100),
    unit: 'rows',
    attempt: 1,
    etaSeconds,
    message: null,
    updatedAt: null,
  },
});

describe('progress on a terminal', () => {
  it('draws a bar with done/total, the rate per second and the ETA', async () => {
    const stream = fakeStream(true);
    expect(progressMode(stream, false)).toBe('tty');
    const view = createProgressView(stream, 'tty');
    view.event(progress(0, null));
    view.event(progress(10_000, 90));
    view.stop();
    await new Promise((r) => setImmediate(r));
    const text = stream.text();
    expect(text).toMatch(/running \[[█░]+\] 25% \| 10k\/40k rows \| (-|\d+\S*) rows\/s \| ETA 1m30s/);
  });

  it('draws the bytes of a download with their rate', async () => {
    const stream = fakeStream(true);
    const view = createProgressView(stream, 'tty');
    view.bytes(0, 4 * 1024 * 1024);
    view.bytes(1024 * 1024, 4 * 1024 * 1024);
    view.stop();
    await new Promise((r) => setImmediate(r));
    expect(stream.text()).toMatch(/download \[[█░]+\] 25% \| 1\.0 MiB\/4\.0 MiB \| \S+ (\S+ )?\/s \| ETA/);
  });
});

describe('progress elsewhere', () => {
  it('prints one plain line per state or whole percent, without control codes; --json prints none', async () => {
    const stream = fakeStream(false);
    expect(progressMode(stream, false)).toBe('plain');
    const view = createProgressView(stream, 'plain');
    view.event(progress(10_000, 30));
    view.event(progress(10_001, 30)); // the same percent: no new line
    view.event(progress(20_000, 20));
    await new Promise((r) => setImmediate(r));
    expect(stream.text()).toBe(
      'job_1 running 25% 10000/40000 rows eta 30s\njob_1 running 50% 20000/40000 rows eta 20s\n',
    );
    expect(progressMode(fakeStream(true), true)).toBe('quiet');
  });
});

describe('--filter and --sort', () => {
  it('reads lists and ranges, open at either end', () => {
    expect(
      parseFilters(['status=paid,shipped', 'created_at=2024-01-01..2024-02-01', 'amount=10..', 'country=DE']),
    ).toEqual({
      status: ['paid', 'shipped'],
      created_at: { from: '2024-01-01', to: '2024-02-01' },
      amount: { from: '10' },
      country: ['DE'],
    });
    expect(parseSort('amount:desc')).toEqual({ column: 'amount', direction: 'desc' });
    expect(parseSort('id')).toEqual({ column: 'id', direction: 'asc' });
  });

  it('refuses what it cannot read with a UsageError', () => {
    for (const bad of ['status', '=x', 'status=', 'amount=..'])
      expect(() => parseFilters([bad])).toThrow(UsageError);
    expect(() => parseFilters(['a=1', 'a=2'])).toThrow(/twice/);
    expect(() => parseSort('amount:down')).toThrow(UsageError);
  });
});
