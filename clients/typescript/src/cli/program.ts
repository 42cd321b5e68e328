/**
 * The `offload` command line: every command, its flags and its output, on top of OffloadClient. Results go
 * to stdout (one JSON document with `--json`), progress and errors to stderr, and the exit code says how it
 * ended (./exit-codes.ts). `run` returns that code instead of exiting, so it can be driven in-process too.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Command, CommanderError, Option } from 'commander';
import { OffloadClient } from '../client.js';
import type { DownloadResult } from '../download.js';
import { ConfigurationError, OffloadError, ValidationError } from '../errors.js';
import type { AudioRequest, ExportRequest, Job, JobKind, JobState } from '../types.js';
import { EXIT, UsageError, type ExitCode } from './exit-codes.js';
import { parseFilters, parseSort } from './filters.js';
import { createProgressView, formatBytes, progressMode } from './progress.js';

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
}

interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

interface FollowFlags {
  follow?: boolean;
  out?: string;
}

interface CreateFlags extends FollowFlags {
  format?: string;
  fileName?: string;
  priority?: number;
  idempotencyKey?: string;
}

interface ExportFlags extends CreateFlags {
  columns?: string;
  filter?: string[];
  sort?: string;
  bom?: boolean;
  title?: string;
}

interface AudioFlags extends CreateFlags {
  text?: string;
  textFile?: string;
  voice?: string;
  language?: string;
  rate?: number;
  pitch?: number;
}

const STATES: JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'expired'];
const KINDS: JobKind[] = ['export', 'audio'];

/** The exit code a job's final state means. */
export function stateExitCode(state: JobState): ExitCode {
  if (state === 'failed' || state === 'expired') return EXIT.jobFailed;
  if (state === 'cancelled') return EXIT.jobCancelled;
  return EXIT.ok;
}

function summary(job: Job): string {
  const parts = [job.id, job.kind, job.state];
  if (job.state === 'running' || job.state === 'queued') parts.push(`${job.progress.percent}%`);
  if (job.result) {
    if (job.result.rows !== undefined) parts.push(`${job.result.rows} rows`);
    if (job.result.durationSeconds !== undefined) parts.push(`${job.result.durationSeconds.toFixed(1)} s`);
    parts.push(`${job.result.bytes} bytes`, job.result.fileName);
  }
  if (job.error) parts.push(`${job.error.type}: ${job.error.message}`);
  if (job.retryOf) parts.push(`retry of ${job.retryOf}`);
  return parts.join('  ');
}

const integer = (flag: string) => (value: string) => {
  if (!/^-?\d+$/.test(value))
    throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a whole number`);
  return Number(value);
};
const decimal = (flag: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a number`);
  return n;
};
const list =
  <T extends string>(flag: string, allowed: readonly T[]) =>
  (value: string): T[] => {
    const items = value.split(',').map((v) => v.trim());
    for (const item of items) {
      if (!allowed.includes(item as T)) {
        throw new UsageError(`${flag} ${JSON.stringify(item)}: expected one of ${allowed.join(', ')}`);
      }
    }
    return items as T[];
  };
const collect = (value: string, previous: string[] = []) => [...previous, value];

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export async function run(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  let json = argv.includes('--json');
  const program = new Command('offload');
  program
    .description('Run and follow offload jobs (dataset exports, speech audio) from a terminal or a script.')
    .addOption(new Option('--url <url>', 'API base URL').env('OFFLOAD_URL').default('http://localhost:3000'))
    .addOption(new Option('--key <key>', 'API key').env('OFFLOAD_API_KEY'))
    .option('--json', 'print one JSON document on stdout and no progress')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => undefined, // reported once, below
    })
    .addHelpText(
      'after',
      `
Environment: OFFLOAD_URL, OFFLOAD_API_KEY (the flags win).
Exit codes: 0 success, 1 error (unreachable, wrong URL or key, not found, incomplete download, …),
2 usage error (or a request the API refused as invalid), 3 job failed or expired, 4 job cancelled.`,
    );

  // Commander reads OFFLOAD_URL / OFFLOAD_API_KEY from process.env; io.env stands in for it here.
  const savedEnv = { url: process.env.OFFLOAD_URL, key: process.env.OFFLOAD_API_KEY };
  setEnv('OFFLOAD_URL', io.env.OFFLOAD_URL);
  setEnv('OFFLOAD_API_KEY', io.env.OFFLOAD_API_KEY);

  const context = () => {
    const opts = program.opts<GlobalOptions>();
    json = opts.json === true;
    if (!opts.key) throw new UsageError('no API key: pass --key or set OFFLOAD_API_KEY');
    const client = new OffloadClient({ baseUrl: opts.url ?? 'http://localhost:3000', apiKey: opts.key });
    const progress = createProgressView(io.stderr, progressMode(io.stderr, json));
    return { client, progress, json };
  };

  const print = (value: unknown, plain: string) => {
    io.stdout.write(json ? `${JSON.stringify(value)}\n` : `${plain}\n`);
  };

  /** After a job was created (or redriven): follow it, download it, and say how it ended. */
  const finish = async (ctx: ReturnType<typeof context>, job: Job, flags: FollowFlags): Promise<ExitCode> => {
    if (flags.out === '-' && ctx.json)
      throw new UsageError('--out - writes the file to stdout: it cannot go with --json');
    if (!flags.follow && flags.out === undefined) {
      print(job, summary(job));
      return EXIT.ok;
    }
    if (!ctx.json) io.stderr.write(`${job.id} ${job.state}\n`);
    const final = await ctx.client.follow(job, (e) => ctx.progress.event(e));
    ctx.progress.stop();
    let file: DownloadResult | undefined;
    if (final.state === 'succeeded' && flags.out !== undefined) {
      file = await downloadJob(ctx, final, flags.out);
    }
    if (flags.out === '-') io.stderr.write(`${summary(final)}\n`);
    else
      print(
        file ? { job: final, file } : final,
        summary(final) + (file ? `\nsaved ${file.path} (${formatBytes(file.bytes)})` : ''),
      );
    return stateExitCode(final.state);
  };

  const downloadJob = async (
    ctx: ReturnType<typeof context>,
    job: Job,
    out: string,
  ): Promise<DownloadResult> => {
    const target: string | Writable = out === '-' ? io.stdout : out;
    try {
      return await ctx.client.download(job, target, {
        onProgress: (received, total) => ctx.progress.bytes(received, total),
      });
    } finally {
      ctx.progress.stop();
    }
  };

  const followOptions = (cmd: Command) =>
    cmd
      .option('--follow', 'show progress until the job ends; the exit code tells how it ended')
      .option('--out <file>', 'when it succeeds, download the file there (- for stdout); implies --follow');

  followOptions(
    program
      .command('export')
      .description('Export a dataset (GET /v1/datasets lists them with their columns and filters)')
      .argument('<dataset>', 'dataset name, e.g. orders')
      .addOption(
        new Option('-f, --format <format>', 'file format')
          .choices(['csv', 'ndjson', 'xlsx', 'pdf', 'parquet'])
          .default('csv'),
      )
      .option('--columns <names>', 'comma-separated columns, in output order')
      .option(
        '--filter <name=value>',
        'a list filter name=a,b or a range name=from..to (repeatable)',
        collect,
      )
      .option('--sort <column[:asc|desc]>', 'sort column and direction')
      .option('--bom', 'CSV: start with a byte-order mark (for Excel)')
      .option('--title <title>', 'PDF: title on every page')
      .option('--file-name <name>', 'name of the result file')
      .option('--priority <n>', 'priority key, 1 (first) to 5 (last)', integer('--priority'))
      .option('--idempotency-key <key>', 'repeat-safe key (default: a new one per run)'),
  ).action(async (dataset: string, o: ExportFlags) => {
    const request = {
      dataset,
      format: o.format,
      ...(o.columns
        ? {
            columns: String(o.columns)
              .split(',')
              .map((c) => c.trim()),
          }
        : {}),
      ...(o.filter ? { filters: parseFilters(o.filter) } : {}),
      ...(o.sort ? { sort: parseSort(o.sort) } : {}),
      ...(o.bom ? { bom: true } : {}),
      ...(o.title ? { title: o.title } : {}),
      ...(o.fileName ? { fileName: o.fileName } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
    } as ExportRequest;
    const ctx = context();
    const job = await ctx.client.createExport(request, idempotency(o.idempotencyKey));
    code = await finish(ctx, job, o);
  });

  followOptions(
    program
      .command('audio')
      .description('Speak a text as audio (GET /v1/voices lists the voices)')
      .option('--text <text>', 'the text to speak')
      .option('--text-file <file>', 'read the text from a file (- for stdin)')
      .option('--voice <voice>', 'a voice id, e.g. en-us')
      .option('--language <tag>', 'instead of --voice: a voice that speaks this language')
      .addOption(new Option('-f, --format <format>', 'audio format').choices(['mp3', 'wav', 'ogg']))
      .option('--rate <n>', 'speaking rate, 1 = normal', decimal('--rate'))
      .option('--pitch <n>', 'pitch, 50 = the voice’s normal pitch', decimal('--pitch'))
      .option('--file-name <name>', 'name of the result file')
      .option('--priority <n>', 'priority key, 1 (first) to 5 (last)', integer('--priority'))
      .option('--idempotency-key <key>', 'repeat-safe key (default: a new one per run)'),
  ).action(async (o: AudioFlags) => {
    if ((o.text === undefined) === (o.textFile === undefined)) {
      throw new UsageError('give the text with --text or --text-file (one of them)');
    }
    const ctx = context();
    const text =
      o.text !== undefined
        ? o.text
        : o.textFile === '-'
          ? await readAll(io.stdin)
          : await fs.readFile(o.textFile!, 'utf8').catch((err: NodeJS.ErrnoException) => {
              throw new UsageError(`--text-file ${o.textFile}: ${err.code ?? err.message}`);
            });
    const request = {
      text,
      ...(o.voice ? { voice: o.voice } : {}),
      ...(o.language ? { language: o.language } : {}),
      ...(o.format ? { format: o.format } : {}),
      ...(o.rate !== undefined ? { rate: o.rate } : {}),
      ...(o.pitch !== undefined ? { pitch: o.pitch } : {}),
      ...(o.fileName ? { fileName: o.fileName } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
    } as AudioRequest;
    const job = await ctx.client.createAudio(request, idempotency(o.idempotencyKey));
    code = await finish(ctx, job, o);
  });

  program
    .command('jobs')
    .description('List your jobs, newest first')
    .option('--state <states>', `comma-separated: ${STATES.join(', ')}`, list('--state', STATES))
    .option('--kind <kinds>', `comma-separated: ${KINDS.join(', ')}`, list('--kind', KINDS))
    .option('--limit <n>', 'jobs per page, 1-100', integer('--limit'), 20)
    .option('--cursor <cursor>', 'the next-page cursor a previous page printed')
    .action(async (o: { state?: JobState[]; kind?: JobKind[]; limit: number; cursor?: string }) => {
      const ctx = context();
      const page = await ctx.client.listJobs({
        limit: o.limit,
        ...(o.state ? { state: o.state } : {}),
        ...(o.kind ? { kind: o.kind } : {}),
        ...(o.cursor ? { cursor: o.cursor } : {}),
      });
      const lines = page.items.map((j) => `${summary(j)}  ${j.createdAt}`);
      if (page.nextCursor) lines.push(`next page: --cursor ${page.nextCursor}`);
      print(page, lines.length > 0 ? lines.join('\n') : 'no jobs');
    });

  program
    .command('status')
    .description('Show one job; the exit code tells a failed (3) or cancelled (4) job')
    .argument('<id>', 'job id')
    .option('--follow', 'show progress until the job ends')
    .action(async (id: string, o: FollowFlags) => {
      const ctx = context();
      const job = await ctx.client.getJob(id);
      if (o.follow) {
        code = await finish(ctx, job, o);
        return;
      }
      print(job, summary(job));
      code = stateExitCode(job.state);
    });

  program
    .command('cancel')
    .description('Cancel a queued or running job')
    .argument('<id>', 'job id')
    .option('--follow', 'wait until the job has stopped')
    .action(async (id: string, o: FollowFlags) => {
      const ctx = context();
      const job = await ctx.client.cancel(id);
      if (!o.follow) {
        print(job, `${job.id} cancel requested`);
        return;
      }
      const final = await ctx.client.waitFor(job);
      print(final, summary(final));
      // The cancel did what was asked; a job that finished first says so.
      code = final.state === 'cancelled' ? EXIT.ok : stateExitCode(final.state);
    });

  followOptions(
    program
      .command('retry')
      .description(
        'Redrive a failed or cancelled job as a new job (a failed export resumes from its checkpoint)',
      )
      .argument('<id>', 'job id'),
  ).action(async (id: string, o: FollowFlags) => {
    const ctx = context();
    code = await finish(ctx, await ctx.client.retry(id), o);
  });

  program
    .command('download')
    .description('Download a succeeded job’s file (an interrupted download is resumed from its .part file)')
    .argument('<id>', 'job id')
    .option('--out <file>', 'where to write it (- for stdout; default: the job’s file name here)')
    .action(async (id: string, o: { out?: string }) => {
      const ctx = context();
      if (o.out === '-' && ctx.json)
        throw new UsageError('--out - writes the file to stdout: it cannot go with --json');
      const job = await ctx.client.getJob(id);
      const out = o.out ?? path.basename(job.result?.fileName ?? `${job.id}.bin`);
      const file = await downloadJob(ctx, job, out);
      if (out === '-') return;
      print({ job, file }, `saved ${file.path} (${formatBytes(file.bytes)}, sha256 ${file.sha256})`);
    });

  for (const cmd of program.commands) cmd.showHelpAfterError(false);

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    return report(err, json, io.stderr);
  } finally {
    setEnv('OFFLOAD_URL', savedEnv.url);
    setEnv('OFFLOAD_API_KEY', savedEnv.key);
  }
}

function setEnv(name: string, value: string | undefined) {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

function idempotency(key: unknown) {
  return typeof key === 'string' ? { idempotencyKey: key } : {};
}

/** One line on stderr for what went wrong, and the exit code it means. */
function report(err: unknown, json: boolean, stderr: NodeJS.WriteStream): ExitCode {
  if (err instanceof CommanderError) {
    // --help and --version are not errors; help shown for a missing command is.
    if (err.exitCode === 0) return EXIT.ok;
    return line(stderr, json, 'UsageError', err.message.replace(/^error: /, ''), EXIT.usage);
  }
  if (err instanceof UsageError || err instanceof ConfigurationError) {
    return line(stderr, json, err.name, err.message, EXIT.usage);
  }
  if (err instanceof ValidationError) {
    const fields = err.fieldErrors.map((f) => `${f.field}: ${f.reason}`).join('; ');
    return line(stderr, json, err.name, `the API refused the request: ${fields || err.message}`, EXIT.usage);
  }
  if (err instanceof OffloadError) return line(stderr, json, err.name, err.message, EXIT.error);
  const message = err instanceof Error ? err.message : String(err);
  return line(stderr, json, 'Error', message, EXIT.error);
}

function line(
  stderr: NodeJS.WriteStream,
  json: boolean,
  type: string,
  message: string,
  code: ExitCode,
): ExitCode {
  const oneLine = message.replace(/\s*\n\s*/g, ' ');
  stderr.write(
    json
      ? `${JSON.stringify({ error: { type, message: oneLine, exitCode: code } })}\n`
      : `offload: ${oneLine}\n`,
  );
  return code;
}
