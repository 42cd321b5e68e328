/**
 * Piper's own phonemizer, as a child process. Piper voices were trained on the phonemes of piper-tts's
 * espeak-ng build (1.52 with Piper's `espeak_TextToPhonemesWithTerminator`, and its own espeak-ng-data);
 * Debian's espeak-ng 1.51 gives other phonemes for about a third of English sentences (ɔː for oː, no
 * ʲ glides, …), which the voice then mispronounces. So the clauses come from piper-tts's compiled bridge
 * (`espeakbridge.so`, self-contained, libc only) run by `python3`: one long-lived process per worker,
 * JSON lines in and out, answers in request order. What becomes of the clauses is ./phonemes.ts.
 * The process is GPL-3.0 software run as a separate program, like the espeak-ng CLI.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { EngineRejectedError } from '../engine.js';
import type { Clause } from './phonemes.js';

/** Reads `{"voice","text"}` lines, answers `{"clauses":[[phonemes, terminator, end], …]}` or an error. */
const BRIDGE_SCRIPT = `
import json, sys
sys.path.insert(0, sys.argv[1])
import espeakbridge
espeakbridge.initialize(sys.argv[2])
voice = None
out = sys.stdout
out.write(json.dumps({"ready": True}) + "\\n"); out.flush()
for line in sys.stdin:
    try:
        req = json.loads(line)
        if req["voice"] != voice:
            espeakbridge.set_voice(req["voice"])
            voice = req["voice"]
        res = {"clauses": [list(c) for c in espeakbridge.get_phonemes(req["text"])]}
    except Exception as e:
        voice = None
        res = {"error": "%s: %s" % (type(e).__name__, e)}
    out.write(json.dumps(res) + "\\n"); out.flush()
`;

export interface PhonemizerFiles {
  /** Folder holding `espeakbridge.so` and `espeak-ng-data/` (from the piper-tts wheel). */
  dir: string;
  python: string;
}

/** What is missing for the phonemizer to run, or nothing. */
export function missingPhonemizerFiles(files: PhonemizerFiles): string[] {
  return ['espeakbridge.so', path.join('espeak-ng-data', 'phontab'), path.join('espeak-ng-data', 'en_dict')]
    .map((f) => path.join(files.dir, f))
    .filter((f) => !existsSync(f));
}

interface Pending {
  resolve: (clauses: Clause[]) => void;
  reject: (err: Error) => void;
}

export class PiperPhonemizer {
  private child: ChildProcessWithoutNullStreams | undefined;
  private ready: Promise<void> | undefined;
  private readonly queue: Pending[] = [];
  private stderr = '';

  constructor(private readonly files: PhonemizerFiles) {}

  /** Starts the process (once) and waits until the bridge is loaded. */
  start(): Promise<void> {
    this.ready ??= this.spawn();
    return this.ready;
  }

  private spawn(): Promise<void> {
    const dataDir = path.join(this.files.dir, 'espeak-ng-data');
    const child = spawn(this.files.python, ['-c', BRIDGE_SCRIPT, this.files.dir, dataDir], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PYTHONIOENCODING: 'utf-8', PYTHONNOUSERSITE: '1' },
    });
    this.child = child;
    this.stderr = '';
    // Held while it loads, then only while requests wait.
    this.hold(true);
    child.stderr.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-2000)));
    child.stdin.on('error', () => {});
    let onReady: (() => void) | undefined;
    let onFail: ((err: Error) => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let msg: { ready?: boolean; clauses?: [string, string, boolean][]; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.ready) {
        if (this.queue.length === 0) this.hold(false);
        onReady?.();
        return;
      }
      const next = this.queue.shift();
      if (this.queue.length === 0) this.hold(false);
      if (!next) return;
      if (msg.error !== undefined)
        next.reject(new EngineRejectedError(`the phonemizer refused: ${msg.error}`));
      else
        next.resolve(
          (msg.clauses ?? []).map(([phonemes, terminator, endOfSentence]) => ({
            phonemes,
            terminator,
            endOfSentence,
          })),
        );
    });
    const died = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.ready = undefined;
      const err = new Error(
        `the Piper phonemizer (${this.files.python}) ${why}: ${this.stderr.trim() || 'no output'}`,
      );
      onFail?.(err);
      for (const p of this.queue.splice(0)) p.reject(err);
    };
    child.once('error', (e) => died(`could not start (${e.message})`));
    child.once('close', (code, signal) => died(`exited with ${code ?? signal}`));
    return ready;
  }

  /** The clauses of `text` spoken by espeak-ng voice `voice` (e.g. `en-us`). */
  async clauses(voice: string, text: string): Promise<Clause[]> {
    await this.start();
    const child = this.child;
    if (!child) throw new Error('the Piper phonemizer is not running');
    return new Promise<Clause[]>((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.hold(true);
      child.stdin.write(`${JSON.stringify({ voice, text })}\n`);
    });
  }

  /** An idle phonemizer must not keep the process alive (a worker exits once its Temporal workers stop). */
  private hold(busy: boolean): void {
    const child = this.child;
    if (!child) return;
    const pipes = [child.stdin, child.stdout, child.stderr] as unknown as {
      ref?: () => void;
      unref?: () => void;
    }[];
    if (busy) {
      child.ref();
      for (const p of pipes) p.ref?.();
    } else {
      child.unref();
      for (const p of pipes) p.unref?.();
    }
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    this.ready = undefined;
    child?.kill('SIGTERM');
    for (const p of this.queue.splice(0)) p.reject(new Error('the Piper phonemizer was closed'));
  }
}
