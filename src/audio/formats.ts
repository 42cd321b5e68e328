/**
 * Output formats and their encoders. WAV needs none (a header before the samples); MP3 is encoded by
 * the `lame` CLI and Ogg/Opus by `ffmpeg`, each a child process fed the PCM on stdin, so encoding runs
 * off the worker's event loop. Both are deterministic: the same samples give the same bytes (ffmpeg
 * only with the bitexact flags, which fix the Ogg serial number and drop the version tag).
 */
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { AudioFormat } from '../shared/jobs.js';

export interface FormatSpec {
  contentType: string;
  extension: string;
  /** Whether encoded segments concatenate into one valid, gapless-enough stream (see segments.ts). */
  segmentable: boolean;
  /** The encoder command for s16le mono PCM at `sampleRate`; none for WAV. */
  encoder?: (sampleRate: number) => { bin: string; args: string[] };
}

export const FORMATS: Record<AudioFormat, FormatSpec> = {
  wav: { contentType: 'audio/wav', extension: 'wav', segmentable: true },
  mp3: {
    contentType: 'audio/mpeg',
    extension: 'mp3',
    segmentable: true,
    // 64 kb/s constant bit rate, mono: plenty for speech at 22 kHz.
    encoder: (sampleRate) => ({
      bin: 'lame',
      args: [
        ...['-r', '-s', String(sampleRate / 1000), '--bitwidth', '16', '--signed', '--little-endian'],
        // -t: no Xing/LAME tag frame, which would decode as a silent frame at every segment join.
        ...['-m', 'm', '-b', '64', '-t', '--quiet', '-', '-'],
      ],
    }),
  },
  ogg: {
    contentType: 'audio/ogg; codecs=opus',
    extension: 'ogg',
    // Concatenated Ogg streams are "chained": valid, but many players and probes mishandle them.
    segmentable: false,
    encoder: (sampleRate) => ({
      bin: 'ffmpeg',
      args: [
        ...['-hide_banner', '-nostdin', '-loglevel', 'error'],
        ...['-f', 's16le', '-ar', String(sampleRate), '-ac', '1', '-i', 'pipe:0'],
        ...['-c:a', 'libopus', '-b:a', '32k', '-application', 'voip'],
        ...['-fflags', '+bitexact', '-flags:a', '+bitexact', '-f', 'ogg', 'pipe:1'],
      ],
    }),
  },
};

/** Binaries each format needs at run time, for the worker's start-up check. */
export const ENCODER_BINARIES = ['lame', 'ffmpeg'] as const;

export interface EncoderProcess {
  stdin: Writable;
  stdout: Readable;
  /** Resolves when the encoder exited cleanly; rejects with its stderr otherwise. */
  exited: Promise<void>;
  kill(): void;
}

export function startEncoder(spec: FormatSpec, sampleRate: number): EncoderProcess {
  if (!spec.encoder) throw new Error(`${spec.extension} needs no encoder`);
  const { bin, args } = spec.encoder(sampleRate);
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // A dying encoder closes its stdin; the exit status below reports why. kill() fails stdout on
  // purpose (for whoever streams it); that must not become an unhandled 'error' event.
  child.stdin.on('error', () => {});
  child.stdout.on('error', () => {});
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${bin} exited with ${code ?? signal}: ${stderr.trim().slice(-500)}`));
    });
  });
  exited.catch(() => {});
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    exited,
    kill: () => {
      child.kill('SIGKILL');
      // Whoever stores the output must see an error, not a clean end, so no partial file is published.
      child.stdout.destroy(new Error(`${bin} was stopped`));
    },
  };
}

/** Check that a binary runs (`<bin> -version`-style probe); throws a message saying what to install. */
export async function checkBinary(bin: string, args: string[], install: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(bin, args, { stdio: 'ignore' });
    child.once('error', (err) =>
      reject(new Error(`${bin} cannot run (${err.message}); install it: ${install}`)),
    );
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`\`${bin} ${args.join(' ')}\` exited with ${code}`)),
    );
  });
}
