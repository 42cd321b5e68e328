/**
 * Speech audio throughput, offload against the bare pipeline, on one machine in one run.
 *
 *   npx tsx bench/audio.ts [--chars 200000] [--rounds 3] [--scale-jobs 4] [--scale-chars 50000]
 *                          [--parallelism 2]   (AUDIO_PARALLELISM of the workers: segments per job at once)
 *                          [--engine espeak-ng|piper] [--cache-chars N]   (Piper's sentence-cache round)
 *
 * With `--engine piper` (the neural voice en_US-joe-medium; needs `npm run setup -- --for test`) the bare
 * command is piper-tts 1.8.0's own `piper -m <voice>.onnx -f out.wav` on the whole text, offload makes WAV
 * with PIPER_THREADS = the machine's cores (split between the --parallelism sentences at once), each
 * round on a text of its own (so the sentence cache never helps); then a sentence-cache round (a job, then the same text with 5 % of its sentences changed) and
 * the audio worker's peak RSS, and whether progress and the ETA moved while the long job ran.
 *
 * Starts its own embedded PostgreSQL, Temporal dev server, API (in this process) and worker processes.
 * 1. Bare pipeline: `espeak-ng` on the whole text piped into `lame` (the same voice, rate and bitrate
 *    offload uses), against offload end to end (POST /v1/audio → polled → downloaded) with one audio
 *    worker process, alternating, best of `--rounds`. Throughput = seconds of audio per second of wall.
 * 2. Scaling: `--scale-jobs` MP3 jobs submitted at once, served by one, then two audio worker processes
 *    (AUDIO_CONCURRENCY=1 each, so a process runs one job at a time).
 * The workers' event-loop delay p99 during each job comes from their "audio published" log lines.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createApiKey, ensureUser } from '../src/db/users-repo.js';
import { speechText } from '../test/helpers/speech-text.js';
import { JOE_VOICE, piperCommand, piperReferenceReady, voicesDir } from '../tools/piper.js';
import { startBenchStack } from './harness.js';
import { startWorkerProcess, type WorkerProcess } from '../test/helpers/worker-process.js';

const { values } = parseArgs({
  options: {
    chars: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    'scale-jobs': { type: 'string', default: '4' },
    'scale-chars': { type: 'string', default: '50000' },
    parallelism: { type: 'string', default: '2' },
    engine: { type: 'string', default: 'espeak-ng' },
    'cache-chars': { type: 'string' },
  },
});
const PIPER = values.engine === 'piper';
if (!PIPER && values.engine !== 'espeak-ng') throw new Error('--engine takes espeak-ng or piper');
if (PIPER && !piperReferenceReady())
  throw new Error('piper-tts is not provisioned: npm run setup -- --for test');
const VOICE = PIPER ? JOE_VOICE.toLowerCase() : 'en-us';
const FORMAT = PIPER ? 'wav' : 'mp3';
const CHARS = Number(values.chars);
const ROUNDS = Number(values.rounds);
const SCALE_JOBS = Number(values['scale-jobs']);
const SCALE_CHARS = Number(values['scale-chars']);
/** Piper's sentence-cache round: the text's length (default `--chars`). */
const CACHE_CHARS = Number(values['cache-chars'] ?? CHARS);

const stack = await startBenchStack({
  name: 'audio',
  bundle: true,
  env: {
    AUDIO_MAX_TEXT_CHARS: String(Math.max(CHARS, SCALE_CHARS)),
    AUDIO_CONCURRENCY: '1',
    AUDIO_PARALLELISM: values.parallelism,
    PIPER_THREADS: String(os.availableParallelism()),
  },
});
const { scratch, env, database, base } = stack;
const user = await ensureUser(database.db, 'bench', 'bench');
const { key } = await createApiKey(database.db, user.id);
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

// Ctrl-C or a kill stops everything this script started, instead of leaving workers and servers behind.
let cleaningUp = false;
async function cleanup(): Promise<void> {
  if (cleaningUp) return;
  cleaningUp = true;
  await Promise.allSettled(startedWorkers.map((w) => w.stop()));
  await stack.close();
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}
process.once('uncaughtException', (err) => {
  console.error(err);
  void cleanup().finally(() => process.exit(1));
});
const startedWorkers: WorkerProcess[] = [];
const jobsWorker = await startWorkerProcess(['jobs'], env);
startedWorkers.push(jobsWorker);
const audioWorkers: WorkerProcess[] = [await startWorkerProcess(['audio'], env)];
startedWorkers.push(audioWorkers[0]!);

const TICK = 100; // USER_HZ: /proc times are in 1/100 s on Linux

/** CPU seconds of a process and of its children it has waited for (utime+stime+cutime+cstime). */
function cpuSeconds(pid: number | 'self'): number {
  let stat: string;
  try {
    stat = execFileSync('cat', [`/proc/${pid}/stat`], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    throw new Error(`process ${pid} is gone (did a worker crash?)`);
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command name: state is field 3, so utime..cstime (fields 14-17) are at 11..14 here.
  return fields.slice(11, 15).reduce((n, f) => n + Number(f), 0) / TICK;
}

function ffprobeSeconds(file: string): number {
  const out = execFileSync('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'format=duration',
    '-of',
    'csv=p=0',
    file,
  ]);
  return Number(out.toString().trim());
}

/** espeak-ng on the whole text piped into lame, or the bare `piper`: what offload is measured against. */
async function bare(text: string): Promise<{ wall: number; audio: number; cpu: number }> {
  const input = path.join(scratch, 'bare.txt');
  const out = path.join(scratch, PIPER ? 'bare.wav' : 'bare.mp3');
  await fs.writeFile(input, text);
  // One shell pipeline, as a user would type it; `times` prints the CPU its children used.
  const pipeline = PIPER
    ? `'${piperCommand()}' -m '${path.join(voicesDir(), `${JOE_VOICE}.onnx`)}' -f '${out}' < '${input}' 2>/dev/null; times`
    : `espeak-ng -v en-us -s 175 -p 50 -b 1 --stdin --stdout < '${input}' | ` +
      `lame -m m -b 64 --quiet - '${out}'; times`;
  const started = performance.now();
  const shell = spawn('bash', ['-c', pipeline], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  shell.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  await new Promise<void>((resolve, reject) =>
    shell.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`pipeline exited ${code}`)))),
  );
  const wall = (performance.now() - started) / 1000;
  // `times`: the shell's own user/sys, then its children's, as "0m6.318s 0m0.351s".
  const children = stdout.trim().split('\n').at(-1)!;
  const cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (n, m) => n + Number(m[1]) * 60 + Number(m[2]),
    0,
  );
  return { wall, audio: ffprobeSeconds(out), cpu };
}

interface Job {
  id: string;
  state: string;
  result: { durationSeconds: number; bytes: number; chunks: number } | null;
  progress?: { done: number; etaSeconds?: number | null };
}

/** Per job: how many different progress values and ETAs a client polling it saw while it ran. */
const liveness = new Map<string, { progressValues: number; polledWithEta: number }>();

/** Peak resident set (VmHWM) of a process, in MB. */
function peakRssMb(pid: number): number {
  const status = execFileSync('cat', [`/proc/${pid}/status`]).toString();
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** POST, poll, download: the time a client waits. */
async function viaOffload(text: string): Promise<{ wall: number; audio: number; id: string; cpu: number }> {
  const cpuBefore = audioWorkers.reduce((n, w) => n + cpuSeconds(w.pid), 0);
  const started = performance.now();
  const res = await fetch(`${base}/v1/audio`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ text, format: FORMAT, voice: VOICE }),
  });
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as Job;
  const progress = new Set<number>();
  let etas = 0;
  for (;;) {
    const job = (await (await fetch(`${base}/v1/jobs/${id}`, { headers })).json()) as Job;
    if (job.state === 'running' && job.progress) {
      progress.add(job.progress.done);
      if (typeof job.progress.etaSeconds === 'number') etas++;
    }
    if (job.state === 'succeeded') {
      liveness.set(id, { progressValues: progress.size, polledWithEta: etas });
      const file = path.join(scratch, `${id}.${FORMAT}`);
      await fs.writeFile(
        file,
        Buffer.from(await (await fetch(`${base}/v1/jobs/${id}/download`, { headers })).arrayBuffer()),
      );
      const wall = (performance.now() - started) / 1000;
      const cpu = audioWorkers.reduce((n, w) => n + cpuSeconds(w.pid), 0) - cpuBefore;
      const audio = ffprobeSeconds(file);
      await fs.rm(file);
      return { wall, audio, id, cpu };
    }
    if (job.state !== 'queued' && job.state !== 'running') throw new Error(`job ${id} ended ${job.state}`);
    // A client polling four times a second; faster polling only loads the API and Temporal.
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Seconds the audio activity ran for a job (its "audio starting" to "audio published" log lines). */
function activitySeconds(jobId: string): number | undefined {
  let start: number | undefined;
  for (const w of audioWorkers) {
    for (const line of w.output().split('\n')) {
      if (!line.includes(jobId)) continue;
      if (line.includes('"audio starting"'))
        start = new Date((JSON.parse(line) as { time: number | string }).time).getTime();
      if (line.includes('"audio published"') && start !== undefined) {
        return (new Date((JSON.parse(line) as { time: number | string }).time).getTime() - start) / 1000;
      }
    }
  }
  return undefined;
}

/** Event-loop delay p99 (ms) the worker logged for a job. */
function loopP99(jobId: string): number | undefined {
  for (const w of audioWorkers) {
    for (const line of w.output().split('\n')) {
      if (!line.includes('"audio published"') || !line.includes(jobId)) continue;
      return (JSON.parse(line) as { eventLoopDelayP99Ms: number }).eventLoopDelayP99Ms;
    }
  }
  return undefined;
}

const rows: string[] = [];
const fmt = (n: number, d = 1) => n.toFixed(d);
const text = speechText(CHARS, 2026);
console.log(
  `text: ${CHARS} characters; ${os.cpus().length} cores; ${ROUNDS} rounds; load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);

let bestBare = { wall: Infinity, audio: 0, cpu: 0 };
let bestOffload = { wall: Infinity, audio: 0, id: '', cpu: 0 };
for (let i = 0; i < ROUNDS; i++) {
  // Piper: a text of its own per round, so the sentence cache never serves a round.
  const roundText = PIPER ? speechText(CHARS, 2026 + i) : text;
  const b = await bare(roundText);
  console.log(
    `bare    round ${i + 1}: ${fmt(b.audio)} s of audio in ${fmt(b.wall, 2)} s, ${fmt(b.cpu)} CPU s`,
  );
  if (b.wall < bestBare.wall) bestBare = b;
  const o = await viaOffload(roundText);
  console.log(
    `offload round ${i + 1}: ${fmt(o.audio)} s of audio in ${fmt(o.wall, 2)} s, ${fmt(o.cpu)} CPU s; the activity ran ${activitySeconds(o.id)} s (event-loop p99 ${loopP99(o.id)} ms)`,
  );
  if (o.wall < bestOffload.wall) bestOffload = o;
}
const bareRate = bestBare.audio / bestBare.wall;
const offloadRate = bestOffload.audio / bestOffload.wall;
rows.push(
  `| bare: ${PIPER ? 'piper -m en_US-joe-medium.onnx -f out.wav' : 'espeak-ng whole text \\| lame'} | ${fmt(bestBare.audio)} | ${fmt(bestBare.wall, 2)} | ${fmt(bareRate, 0)} | 1.00 | ${fmt(bestBare.cpu)} | — |`,
  `| offload, 1 audio worker, POST → downloaded | ${fmt(bestOffload.audio)} | ${fmt(bestOffload.wall, 2)} | ${fmt(offloadRate, 0)} | ${fmt(offloadRate / bareRate, 2)} | ${fmt(bestOffload.cpu)} | ${loopP99(bestOffload.id)} |`,
);

async function batch(workers: number): Promise<{ wall: number; audio: number; p99: number[] }> {
  while (audioWorkers.length < workers) {
    const w = await startWorkerProcess(['audio'], env);
    audioWorkers.push(w);
    startedWorkers.push(w);
  }
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: SCALE_JOBS }, (_, i) => viaOffload(speechText(SCALE_CHARS, 100 + i))),
  );
  const wall = (performance.now() - started) / 1000;
  return {
    wall,
    audio: results.reduce((n, r) => n + r.audio, 0),
    p99: results.map((r) => loopP99(r.id) ?? NaN),
  };
}
if (PIPER) {
  // The sentence cache: a job, then the same text with 5 % of its sentences changed (the activity's time).
  const sentences = [
    ...new Intl.Segmenter('en', { granularity: 'sentence' }).segment(speechText(CACHE_CHARS, 4242)),
  ].map((x) => x.segment);
  const first = await viaOffload(sentences.join(''));
  const step = Math.round(1 / 0.05);
  const edited = sentences.map((x, i) =>
    i % step === step - 1 ? `Sentence ${i} was edited for the second job. ` : x,
  );
  const second = await viaOffload(edited.join(''));
  const [a, b] = [activitySeconds(first.id)!, activitySeconds(second.id)!];
  const changed = Math.floor(sentences.length / step);
  const live = liveness.get(bestOffload.id);
  console.log(
    `\nsentence cache: first job ${fmt(a, 2)} s, then ${changed} of ${sentences.length} sentences changed: ${fmt(b, 2)} s = ${fmt((100 * b) / a, 1)} % of the first`,
  );
  console.log(`audio worker peak RSS ${fmt(peakRssMb(audioWorkers[0]!.pid), 0)} MB`);
  console.log(
    `progress while the best round ran: ${live?.progressValues} different values, ETA present in ${live?.polledWithEta} polls`,
  );
  console.log(
    '\n| pipeline | audio s | wall s | audio s per wall s | ratio to bare | CPU s | worker event-loop p99 ms |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(
    `load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await cleanup();
  process.exit(0);
}
const one = await batch(1);
const two = await batch(2);
const scaleRows = [
  [1, one],
  [2, two],
].map(
  ([n, r]) =>
    `| ${n as number} | ${SCALE_JOBS} × ${SCALE_CHARS} | ${fmt((r as typeof one).audio)} | ${fmt((r as typeof one).wall, 2)} | ${fmt((r as typeof one).audio / (r as typeof one).wall, 0)} | ${Math.max(...(r as typeof one).p99)} |`,
);

console.log(
  `\n| pipeline | audio s | wall s | audio s per wall s | ratio to bare | CPU s | worker event-loop p99 ms |`,
);
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(
  `\n| audio worker processes | jobs × characters | audio s | wall s | audio s per wall s | max event-loop p99 ms |`,
);
console.log('|---|---|---|---|---|---|');
for (const r of scaleRows) console.log(r);
console.log(
  `load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(`\nscaling 1 → 2 worker processes: ×${fmt(two.audio / two.wall / (one.audio / one.wall), 2)}`);

await cleanup();
