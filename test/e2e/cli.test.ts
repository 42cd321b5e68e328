/**
 * The `offload` command line, built (`npm run client:build`) and run as a child process against the real
 * stack: export with filters, follow and download; audio from a file and from stdin; jobs, status, cancel,
 * retry, download; `--json`; plain progress lines off a terminal; `--help` for every command; and the exit
 * codes of success, a failed job, a cancelled job, a usage error and the bad inputs of issue 18 (wrong URL,
 * wrong key, unreachable API, unknown job), each one line on stderr.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../clients/typescript/src/index.js';
import { freePort } from '../../tools/ports.js';
import { parseCsv, seedTenant } from '../helpers/data.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'clients/typescript/dist/cli/main.js');
const EXIT = { ok: 0, error: 1, usage: 2, failed: 3, cancelled: 4 };

let stack: Stack;
let key: string;
let tenant: string;
let scratch: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `offload` with the stack's URL and key in its environment (unless `env` overrides them). */
function offload(
  args: string[],
  opts: {
    env?: Record<string, string | undefined>;
    input?: string;
    onStderr?: (text: string) => void;
    /** Run it on a pseudo-terminal (util-linux `script`), where it draws a progress bar. */
    tty?: boolean;
  } = {},
): Promise<Run> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  for (const [k, v] of Object.entries({ OFFLOAD_URL: stack.baseUrl, OFFLOAD_API_KEY: key, ...opts.env })) {
    if (v !== undefined) env[k] = v;
  }
  const argv = [process.execPath, BIN, ...args];
  const [command, ...rest] = opts.tty
    ? ['script', '-qec', argv.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' '), '/dev/null']
    : argv;
  const child = spawn(command!, rest, { cwd: scratch, env: { ...env, COLUMNS: '150' }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
    opts.onStderr?.(stderr);
  });
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const jobIdOf = (text: string) => /\b(job_[0-9a-z]+)\b/.exec(text)?.[1];

beforeAll(async () => {
  // The built command is what is tested: compile the package first.
  await promisify(execFile)('npm', ['run', 'client:build'], { cwd: ROOT });
  stack = await startStack({
    queues: ['jobs', 'exports', 'audio'],
    env: {
      EXPORT_PART_ROWS: '500',
      EXPORT_MAX_ROWS_PER_SEC: '3000',
      EVENTS_POLL_INTERVAL_MS: '200',
      EXPORT_MAX_ATTEMPTS: '2',
    },
  });
  tenant = await seedTenant(stack.database.sql, 6000);
  key = (await stack.newUser(tenant)).key;
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-cli-'));
});

afterAll(async () => {
  await stack?.stop();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

describe('offload export', () => {
  it('exports with filters, shows plain progress lines off a terminal, downloads the file and exits 0', async () => {
    const out = path.join(scratch, 'paid.csv');
    const run = await offload([
      'export',
      'orders',
      '--format',
      'csv',
      '--filter',
      'status=paid,shipped',
      '--filter',
      'created_at=2000-01-01..',
      '--columns',
      'id,status,amount',
      '--follow',
      '--out',
      out,
    ]);
    expect(run.stderr).not.toMatch(/offload:/);
    expect(run.code).toBe(EXIT.ok);
    const id = jobIdOf(run.stdout)!;
    expect(run.stdout).toContain(`saved ${out}`);
    const [paidOrShipped] = await stack.database.sql<{ count: string }[]>`
      select count(*)::text as count from orders where tenant_id = ${tenant} and status in ('paid', 'shipped')`;
    // Plain lines, no terminal control codes: state changes and percentages.
    const lines = run.stderr.trimEnd().split('\n');
    for (const line of lines) {
      expect(line).toMatch(
        new RegExp(
          `^(${id} (queued|running|succeeded)( \\d+% \\d+(/\\d+)? rows( eta \\S+)?)?|download \\d+% \\d+/\\d+ bytes)$`,
        ),
      );
    }
    expect(lines).toContain(
      `${id} succeeded 100% ${Number(paidOrShipped!.count)}/${Number(paidOrShipped!.count)} rows`,
    );
    expect(run.stderr).not.toContain('\u001b[');

    const rows = parseCsv(await fs.readFile(out, 'utf8'));
    expect(rows[0]).toEqual(['id', 'status', 'amount']);
    expect(rows.length - 1).toBe(Number(paidOrShipped!.count));
    expect(new Set(rows.slice(1).map((r) => r[1]))).toEqual(new Set(['paid', 'shipped']));
    const served = await api(stack, key)(`/v1/jobs/${id}/download`);
    expect(await fs.readFile(out, 'utf8')).toBe(await served.text());
  });

  it('with --json prints one JSON document (the job and the file) and nothing on stderr', async () => {
    const out = path.join(scratch, 'all.ndjson');
    const run = await offload(['--json', 'export', 'orders', '-f', 'ndjson', '--out', out]);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stderr).toBe('');
    const body = JSON.parse(run.stdout) as {
      job: Job;
      file: { path: string; bytes: number; sha256: string };
    };
    expect(body.job.state).toBe('succeeded');
    expect(body.file).toMatchObject({
      path: out,
      bytes: body.job.result!.bytes,
      sha256: body.job.result!.sha256,
    });
    expect((await fs.stat(out)).size).toBe(body.job.result!.bytes);
  });

  it('without --follow prints the new job and exits at once; download then fetches it', async () => {
    const run = await offload(['export', 'customers', '--format', 'csv']);
    expect(run.code).toBe(EXIT.ok);
    const id = jobIdOf(run.stdout)!;
    expect(run.stdout).toMatch(/^job_\S+ {2}export {2}(queued|running)/);
    const status = await offload(['status', id, '--follow']);
    expect(status.code).toBe(EXIT.ok);
    expect(status.stdout).toContain(`${id}  export  succeeded`);
    const got = await offload(['download', id]);
    expect(got.code).toBe(EXIT.ok);
    const fileName = /saved (\S+)/.exec(got.stdout)![1]!;
    expect(path.basename(fileName)).toMatch(/\.csv$/);
    const served = await api(stack, key)(`/v1/jobs/${id}/download`);
    expect(await fs.readFile(path.join(scratch, fileName), 'utf8')).toBe(await served.text());
  });

  it('draws a progress bar with the rate and the ETA on a terminal', async () => {
    const out = path.join(scratch, 'tty.csv');
    const run = await offload(['export', 'orders', '--out', out], { tty: true });
    expect(run.code).toBe(EXIT.ok);
    // On a terminal stdout and stderr are the one pty: the bar is redrawn in place (cursor codes).
    expect(run.stdout).toContain('\u001b[');
    expect(run.stdout).toMatch(
      /running \[[█░]+\] \d+% \| [\d.k]+\/6000 rows \| (-|[\d.k]+) rows\/s \| ETA \S+/,
    );
    expect(run.stdout).toMatch(/download \[[█░]+\] 100% \| /);
    expect(run.stdout).toContain(`saved ${out}`);
  });

  it('writes the file to stdout with --out -', async () => {
    const run = await offload(['export', 'orders', '--columns', 'id', '--out', '-']);
    expect(run.code).toBe(EXIT.ok);
    const rows = parseCsv(run.stdout);
    expect(rows[0]).toEqual(['id']);
    expect(rows.length - 1).toBe(6000);
    expect(run.stderr).toContain('succeeded');
  });
});

describe('offload audio', () => {
  it('speaks a text file to a WAV file', async () => {
    const text = path.join(scratch, 'speech.txt');
    await fs.writeFile(text, 'Hello from the offload command line.');
    const out = path.join(scratch, 'speech.wav');
    const run = await offload(['audio', '--text-file', text, '--voice', 'en-us', '-f', 'wav', '--out', out]);
    expect(run.code).toBe(EXIT.ok);
    expect((await fs.readFile(out)).subarray(0, 4).toString('latin1')).toBe('RIFF');
  });

  it('reads the text from stdin with --text-file -', async () => {
    const run = await offload(['--json', 'audio', '--text-file', '-', '--voice', 'en-us', '--follow'], {
      input: 'Read from standard input.',
    });
    expect(run.code).toBe(EXIT.ok);
    const job = JSON.parse(run.stdout) as Job;
    expect(job.state).toBe('succeeded');
    expect(job.request).toMatchObject({ characters: 'Read from standard input.'.length });
  });
});

describe('jobs, status, cancel and retry', () => {
  it('lists jobs with filters, as lines or JSON', async () => {
    const plain = await offload(['jobs', '--state', 'succeeded', '--limit', '2']);
    expect(plain.code).toBe(EXIT.ok);
    const lines = plain.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('job_')).length).toBe(2);
    expect(lines.at(-1)).toMatch(/^next page: --cursor job_/);
    const json = await offload(['--json', 'jobs', '--kind', 'audio']);
    const page = JSON.parse(json.stdout) as { items: Job[] };
    expect(page.items.length).toBe(2);
    expect(page.items.every((j) => j.kind === 'audio')).toBe(true);
  });

  it('a followed job that is cancelled exits 4; status of it exits 4; retry --follow exits 0', async () => {
    let id: string | undefined;
    const following = offload(['export', 'orders', '--follow'], {
      onStderr: (text) => {
        id ??= /^(job_\S+) running/m.exec(text)?.[1];
      },
    });
    await eventually(() => Promise.resolve(id), 30_000, 50);
    const cancel = await offload(['cancel', id!, '--follow']);
    expect(cancel.code).toBe(EXIT.ok);
    expect(cancel.stdout).toContain(`${id}  export  cancelled`);
    const followed = await following;
    expect(followed.code).toBe(EXIT.cancelled);
    expect((await offload(['status', id!])).code).toBe(EXIT.cancelled);

    const again = await offload(['cancel', id!]);
    expect(again.code).toBe(EXIT.error);
    expect(again.stderr).toMatch(/^offload: .*Conflict.*\n$/);

    const retry = await offload(['retry', id!, '--follow']);
    expect(retry.code).toBe(EXIT.ok);
    expect(retry.stdout).toContain(`retry of ${id}`);
  });

  it('a followed job that fails exits 3 and prints its error', async () => {
    // Publishing needs <storage>/objects to be a directory: a file there fails every attempt.
    const objects = path.join(stack.storageDir, 'objects');
    const moved = `${objects}.away`;
    await fs.rename(objects, moved).catch(() => undefined);
    await fs.writeFile(objects, 'not a directory');
    let run: Run;
    try {
      run = await offload(['export', 'orders', '--follow', '--out', path.join(scratch, 'never.csv')]);
    } finally {
      await fs.rm(objects, { force: true });
      await fs.rename(moved, objects).catch(() => fs.mkdir(objects, { recursive: true }));
    }
    expect(run.code).toBe(EXIT.failed);
    expect(run.stdout).toMatch(/export {2}failed .*(ENOTDIR|EEXIST)/);
    await expect(fs.access(path.join(scratch, 'never.csv'))).rejects.toThrow();
    const status = await offload(['status', jobIdOf(run.stdout)!]);
    expect(status.code).toBe(EXIT.failed);
  });
});

describe('an interrupted download', () => {
  it('exits 1 with one line and keeps the .part, never the file; the next download resumes it', async () => {
    const first = await offload(['--json', 'export', 'orders', '--follow']);
    const job = JSON.parse(first.stdout) as Job;
    expect(job.state).toBe('succeeded');
    const half = Math.floor(job.result!.bytes / 2);
    // The first download answer is cut halfway; every later request is dropped before any answer.
    const proxy = await startFaultyProxy(stack.baseUrl, (req, i) =>
      !req.path.endsWith('/download')
        ? { forward: true }
        : i === 0
          ? { forward: true, cutAfterBytes: half }
          : { drop: true },
    );
    const out = path.join(scratch, 'interrupted.csv');
    try {
      const cut = await offload(['download', job.id, '--out', out, '--url', proxy.url]);
      expect(cut.code).toBe(EXIT.error);
      // Progress lines, then the one line that says what went wrong.
      const lines = cut.stderr.trimEnd().split('\n');
      expect(lines.filter((l) => l.startsWith('offload:')).length).toBe(1);
      expect(lines.at(-1)).toMatch(/^offload: download of \S+ stopped at \d+ of \d+ bytes.*\.part is kept/);
      expect(cut.stdout).toBe('');
    } finally {
      await proxy.close();
    }
    await expect(fs.access(out)).rejects.toThrow();
    const kept = (await fs.stat(`${out}.part`)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(half);

    const resumed = await offload(['--json', 'download', job.id, '--out', out]);
    expect(resumed.code).toBe(EXIT.ok);
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      file: { resumedFrom: kept, bytes: job.result!.bytes },
    });
    const served = await api(stack, key)(`/v1/jobs/${job.id}/download`);
    expect(await fs.readFile(out, 'utf8')).toBe(await served.text());
  });
});

describe('usage, help and bad input', () => {
  it('has --help for every command, exiting 0', async () => {
    for (const command of ['', 'export', 'audio', 'jobs', 'status', 'cancel', 'retry', 'download']) {
      const run = await offload([...(command ? [command] : []), '--help']);
      expect(run.code, command).toBe(EXIT.ok);
      expect(run.stdout, command).toMatch(new RegExp(`^Usage: offload ${command}`));
    }
  });

  it('exits 2 with one line for a usage error, and for a request the API refuses as invalid', async () => {
    for (const args of [
      ['export'],
      ['export', 'orders', '--format', 'docx'],
      ['export', 'orders', '--filter', 'status'],
      ['jobs', '--state', 'bogus'],
      ['audio', '--voice', 'en-us'],
      ['bogus'],
      [],
    ]) {
      const run = await offload(args);
      expect(run.code, args.join(' ')).toBe(EXIT.usage);
      if (args.length > 0) expect(run.stderr, args.join(' ')).toMatch(/^offload: [^\n]+\n$/);
    }
    const refused = await offload(['export', 'orders', '--columns', 'nope']);
    expect(refused.code).toBe(EXIT.usage);
    expect(refused.stderr).toMatch(/^offload: the API refused the request: .*columns.*\n$/);
    const noKey = await offload(['jobs'], { env: { OFFLOAD_API_KEY: undefined } });
    expect(noKey.code).toBe(EXIT.usage);
    expect(noKey.stderr).toBe('offload: no API key: pass --key or set OFFLOAD_API_KEY\n');
  });

  it('says which: wrong key, unreachable API, wrong URL, unknown job; one line each, exit 1', async () => {
    const wrongKey = await offload(['jobs', '--key', 'ofk_nope']);
    expect(wrongKey.code).toBe(EXIT.error);
    expect(wrongKey.stderr).toMatch(/^offload: the API key was refused[^\n]*\n$/);

    const port = await freePort();
    const down = await offload(['status', 'job_01jd3v7k8m9n0p1q2r3s4t5v6w'], {
      env: { OFFLOAD_URL: `http://127.0.0.1:${port}` },
    });
    expect(down.code).toBe(EXIT.error);
    expect(down.stderr).toMatch(
      new RegExp(
        `^offload: cannot reach the offload API at http://127.0.0.1:${port}: [^\\n]*ECONNREFUSED[^\\n]*\\n$`,
      ),
    );

    const wrongUrl = await offload(['jobs', '--url', `${stack.baseUrl}/api`]);
    expect(wrongUrl.code).toBe(EXIT.error);
    expect(wrongUrl.stderr).toMatch(/^offload: \S+ does not answer like the offload API[^\n]*\n$/);

    const missing = await offload(['--json', 'download', 'job_01jd3v7k8m9n0p1q2r3s4t5v6w']);
    expect(missing.code).toBe(EXIT.error);
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: { type: 'NotFoundError', exitCode: 1 } });
  });
});
