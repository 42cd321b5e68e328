/**
 * An open-loop load generator: requests are sent at a fixed rate whatever the server does (wrk2's
 * method), over a pool of keep-alive connections, and each latency counts from when the request was
 * due, not from when it could be sent, so a stalled server or a stalled generator is not hidden
 * (no coordinated omission). Latencies are kept whole at sub-millisecond precision.
 *
 * Run it as its own process, so that nothing else in the benchmark delays its timers:
 *   tsx bench/open-loop.ts URL RATE SECONDS CONNECTIONS [HEADER=VALUE ...]   → one JSON line
 * With OPEN_LOOP_BODY set, every request is a POST of that body (JSON).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';

export interface OpenLoopResult {
  p50: number;
  p99: number;
  max: number;
  sent: number;
  ok: number;
  other: number;
}

function send(
  url: string,
  headers: Record<string, string>,
  agent: http.Agent,
  body: string | undefined,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST';
    const all = body === undefined ? headers : { 'content-type': 'application/json', ...headers };
    const req = http.request(url, { method, headers: all, agent }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export interface OpenLoopOptions {
  url: string;
  headers?: Record<string, string>;
  /** Requests per second. */
  rate: number;
  seconds: number;
  connections: number;
  /** POST this JSON body instead of GET. */
  body?: string;
}

export async function openLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const interval = 1000 / opts.rate;
  const total = Math.floor(opts.rate * opts.seconds);
  const latencies: number[] = [];
  let ok = 0;
  let other = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now() + 10;
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Late: count from when it was due. Early (a timer may fire a little before `due`): from the send.
    const from = Math.min(due, performance.now());
    pending.push(
      send(opts.url, opts.headers ?? {}, agent, opts.body).then(
        (status) => {
          latencies.push(performance.now() - from);
          if (status >= 200 && status < 300) ok++;
          else other++;
        },
        () => {
          other++;
        },
      ),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    sent: total,
    ok,
    other,
  };
}

/** Runs the generator in a child process (see above) and returns its result. */
export async function openLoopProcess(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const headerArgs = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}=${v}`);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(import.meta.dirname, 'open-loop.ts'),
      opts.url,
      String(opts.rate),
      String(opts.seconds),
      String(opts.connections),
      ...headerArgs,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: opts.body === undefined ? process.env : { ...process.env, OPEN_LOOP_BODY: opts.body },
    },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`open-loop generator exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as OpenLoopResult;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const [url, rate, seconds, connections, ...headerArgs] = process.argv.slice(2);
  // The benchmark that started this generator is gone (stopped mid-run): nobody reads the result.
  process.stdout.on('error', () => process.exit(1));
  const headers = Object.fromEntries(
    headerArgs.map((h) => [h.slice(0, h.indexOf('=')), h.slice(h.indexOf('=') + 1)]),
  );
  const result = await openLoop({
    url: url!,
    headers,
    rate: Number(rate),
    seconds: Number(seconds),
    connections: Number(connections),
    body: process.env.OPEN_LOOP_BODY,
  });
  console.log(JSON.stringify(result));
}
