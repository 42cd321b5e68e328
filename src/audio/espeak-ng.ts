/**
 * The espeak-ng engine (Debian package `espeak-ng`), one child process per chunk: text on stdin, a WAV
 * on stdout. It runs off the worker's event loop, needs no network, and gives bit-identical samples for
 * the same chunk on every run, which is what makes resuming at the first missing chunk exact.
 */
import { spawn } from 'node:child_process';
import {
  EngineRejectedError,
  type Pcm,
  type SpeechEngine,
  type SynthesisOptions,
  type Voice,
  type VoiceIdentity,
} from './engine.js';
import { parseWav } from './wav.js';

/** espeak-ng's normal rate in words per minute, and the range it accepts. */
const NORMAL_WPM = 175;
const MIN_WPM = 80;
const MAX_WPM = 450;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

function run(bin: string, args: string[], input?: string, signal?: AbortSignal): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    // A child that dies early closes stdin under us; its exit code tells what happened.
    child.stdin.on('error', () => {});
    child.once('error', (e) => {
      signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.once('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason as Error);
      else resolve({ code, signal: sig, stdout: Buffer.concat(out), stderr: err.trim() });
    });
    child.stdin.end(input ?? '');
  });
}

/** Parse `espeak-ng --voices`: `Pty Language Age/Gender VoiceName File Other Languages`. */
export function parseVoiceList(text: string): Voice[] {
  const voices: Voice[] = [];
  const seen = new Set<string>();
  // language -> the voice espeak-ng ranks first for it (lowest priority number)
  const best = new Map<string, { voice: Voice; priority: number }>();
  for (const line of text.split('\n').slice(1)) {
    const m = /^\s*\d+\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s*(.*)$/.exec(line);
    if (!m) continue;
    const id = m[1]!.toLowerCase();
    if (seen.has(id)) continue;
    seen.add(id);
    const ranked = [...m[4]!.matchAll(/\(([^\s)]+)\s+(\d+)\)/g)].map((x) => ({
      tag: x[1]!.toLowerCase(),
      priority: Number(x[2]),
    }));
    const others = ranked.map((r) => r.tag);
    const g = m[2]!.split('/')[1];
    const gender = g === 'M' ? 'male' : g === 'F' ? 'female' : null;
    const voice: Voice = {
      id,
      name: m[3]!.replaceAll('_', ' '),
      languages: [id, ...others.filter((o) => o !== id)],
      gender,
      preferredFor: [],
      engine: 'espeak-ng',
      quality: null,
      // espeak-ng speaks its own voices at 22,050 Hz (mbrola voices, not installed, at 16,000 Hz).
      sampleRate: 22_050,
      license: 'GPL-3.0-or-later',
      pitch: true,
    };
    voices.push(voice);
    for (const r of ranked) {
      const current = best.get(r.tag);
      if (!current || r.priority < current.priority) best.set(r.tag, { voice, priority: r.priority });
    }
  }
  for (const [tag, { voice }] of best) if (!seen.has(tag)) voice.preferredFor.push(tag);
  return voices;
}

export class EspeakNgEngine implements SpeechEngine {
  id = 'espeak-ng';
  private catalog: Promise<Voice[]> | undefined;
  private readonly rates = new Map<string, number>();

  constructor(private readonly bin = 'espeak-ng') {}

  async check(): Promise<void> {
    let res: RunResult;
    try {
      res = await run(this.bin, ['--version']);
    } catch (err) {
      throw new Error(
        `the speech engine espeak-ng cannot run (${(err as Error).message}). ` +
          'Install it (Debian: `apt-get install -y espeak-ng`, or `npm run setup` as root).',
      );
    }
    const version = /text-to-speech:\s*(\S+)/.exec(res.stdout.toString())?.[1];
    if (res.code !== 0 || !version) {
      throw new Error(`\`${this.bin} --version\` failed (exit ${res.code}): ${res.stderr}`);
    }
    this.id = `espeak-ng ${version}`;
  }

  voices(): Promise<Voice[]> {
    this.catalog ??= run(this.bin, ['--voices']).then((res) => {
      if (res.code !== 0) throw new Error(`espeak-ng --voices failed: ${res.stderr}`);
      return parseVoiceList(res.stdout.toString());
    });
    this.catalog.catch(() => (this.catalog = undefined));
    return this.catalog;
  }

  async sampleRate(voice: string): Promise<number> {
    let rate = this.rates.get(voice);
    if (rate === undefined) {
      // espeak-ng has one rate per voice (22,050 Hz for its own voices); a short probe reads it.
      rate = (await this.synthesize('.', { voice, rate: 1, pitch: 50 })).sampleRate;
      this.rates.set(voice, rate);
    }
    return rate;
  }

  identify(voice: string): Promise<VoiceIdentity> {
    return Promise.resolve({ engine: this.id, voice, modelSha256: null, sentenceChunks: false });
  }

  async synthesize(text: string, opts: SynthesisOptions): Promise<Pcm> {
    const wpm = Math.min(MAX_WPM, Math.max(MIN_WPM, Math.round(NORMAL_WPM * opts.rate)));
    const pitch = Math.min(99, Math.max(0, Math.round(opts.pitch)));
    // -b 1: the input is UTF-8. No -m: the text is never read as SSML markup.
    const args = ['-v', opts.voice, '-s', String(wpm), '-p', String(pitch), '-b', '1', '--stdin', '--stdout'];
    const res = await run(this.bin, args, text, opts.signal);
    if (res.code !== 0) {
      if (/voice does not exist/i.test(res.stderr)) {
        throw new EngineRejectedError(`espeak-ng has no voice "${opts.voice}"`);
      }
      throw new Error(`espeak-ng exited with ${res.code ?? res.signal}: ${res.stderr}`);
    }
    const wav = parseWav(res.stdout);
    if (wav.format !== 1 || wav.channels !== 1 || wav.bitsPerSample !== 16) {
      throw new Error(`espeak-ng gave an unexpected WAV: ${JSON.stringify({ ...wav, data: undefined })}`);
    }
    // Keep whole samples only (a streamed WAV has no trustworthy length field).
    const samples = wav.data.subarray(0, wav.data.length - (wav.data.length % 2));
    return { sampleRate: wav.sampleRate, samples };
  }
}
