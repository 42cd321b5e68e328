/**
 * How `offload` shows a job's progress and a download on stderr: on a terminal, a cli-progress bar with the
 * rate and the ETA; elsewhere (a pipe, a CI log), one plain line per change of state or whole percent;
 * with `--json`, nothing (stdout carries the one JSON answer).
 */
import cliProgress from 'cli-progress';
import type { JobEvent } from '../events.js';

export interface ProgressView {
  event(event: JobEvent): void;
  bytes(received: number, total: number | undefined): void;
  stop(): void;
}

export type ProgressMode = 'tty' | 'plain' | 'quiet';

export function progressMode(stream: NodeJS.WriteStream, json: boolean): ProgressMode {
  if (json) return 'quiet';
  return stream.isTTY ? 'tty' : 'plain';
}

/** Rate per second from the first sample seen to now. */
class Rate {
  private first?: { at: number; value: number };
  per(value: number): number | undefined {
    const now = Date.now();
    this.first ??= { at: now, value };
    const seconds = (now - this.first.at) / 1000;
    return seconds > 0.5 ? (value - this.first.value) / seconds : undefined;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '?';
  const total = Math.max(0, Math.round(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(sec).padStart(2, '0')}s`
      : `${sec}s`;
}

const compact = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : `${Math.round(n)}`;

export function createProgressView(stream: NodeJS.WriteStream, mode: ProgressMode): ProgressView {
  if (mode === 'quiet') return { event: () => undefined, bytes: () => undefined, stop: () => undefined };
  return mode === 'tty' ? ttyView(stream) : plainView(stream);
}

function plainView(stream: NodeJS.WriteStream): ProgressView {
  let last = '';
  let lastBytesTenth = -1;
  return {
    event(e) {
      // Each state change comes with a progress event too, which says more: print those only.
      if (e.type !== 'progress') return;
      const p = e.data;
      const of = p.total !== null ? `${p.done}/${p.total} ${p.unit}` : `${p.done} ${p.unit}`;
      const eta = p.etaSeconds !== null && p.state === 'running' ? ` eta ${formatSeconds(p.etaSeconds)}` : '';
      const key = `${p.state} ${p.percent}`;
      if (key === last) return;
      last = key;
      stream.write(`${p.jobId} ${p.state} ${p.percent}% ${of}${eta}\n`);
    },
    bytes(received, total) {
      if (total === undefined || total === 0) return;
      const tenth = Math.floor((received / total) * 10);
      if (tenth === lastBytesTenth) return;
      lastBytesTenth = tenth;
      stream.write(`download ${tenth * 10}% ${received}/${total} bytes\n`);
    },
    stop: () => undefined,
  };
}

function ttyView(stream: NodeJS.WriteStream): ProgressView {
  let bar: cliProgress.SingleBar | undefined;
  let kind: 'job' | 'bytes' | undefined;
  let rate = new Rate();
  const start = (what: 'job' | 'bytes', total: number, payload: Record<string, string>) => {
    if (bar && kind === what) return bar;
    bar?.stop();
    kind = what;
    bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{label} [{bar}] {percentage}% | {progress} | {rate} | ETA {remaining}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, payload);
    return bar;
  };
  return {
    event(e) {
      if (e.type !== 'progress') return;
      if (kind !== 'job') rate = new Rate();
      const p = e.data;
      const total = p.total ?? 100;
      const value = p.total === null ? p.percent : p.done;
      const perSecond = rate.per(p.done);
      const eta =
        p.etaSeconds ?? (perSecond && p.total !== null ? (p.total - p.done) / perSecond : undefined);
      const payload = {
        label: p.state,
        progress:
          p.total === null
            ? `${compact(p.done)} ${p.unit}`
            : `${compact(p.done)}/${compact(p.total)} ${p.unit}`,
        rate: perSecond === undefined ? `- ${p.unit}/s` : `${compact(perSecond)} ${p.unit}/s`,
        remaining: p.state === 'running' || p.state === 'queued' ? formatSeconds(eta) : '0s',
      };
      const b = start('job', total, payload);
      b.setTotal(total);
      b.update(value, payload);
    },
    bytes(received, total) {
      if (kind !== 'bytes') rate = new Rate();
      const perSecond = rate.per(received);
      const payload = {
        label: 'download',
        progress: `${formatBytes(received)}/${total === undefined ? '?' : formatBytes(total)}`,
        rate: perSecond === undefined ? '- /s' : `${formatBytes(perSecond)}/s`,
        remaining: formatSeconds(
          perSecond && total !== undefined ? (total - received) / perSecond : undefined,
        ),
      };
      const b = start('bytes', total ?? received, payload);
      if (total !== undefined) b.setTotal(total);
      b.update(received, payload);
    },
    stop() {
      bar?.stop();
      bar = undefined;
      kind = undefined;
    },
  };
}
