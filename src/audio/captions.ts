/**
 * WebVTT captions from the chunks and their lengths in samples: one cue per chunk that has words, from
 * where its samples start to where they end in the published audio (the chunks' samples follow each
 * other with nothing between, so the times are exact for WAV and Ogg, and for MP3 off by at most the
 * encoder's start delay, about 50 ms, per segment before the chunk). Piper jobs are cut one sentence per
 * chunk, so there a cue is a sentence.
 */
import type { TextChunk } from './chunks.js';

/** `hh:mm:ss.mmm`. */
export function vttTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/** Cue text: one line, with what WebVTT reads as markup or a timing line escaped. */
export function cueText(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

export interface Cue {
  start: number;
  end: number;
  text: string;
}

/** The cues of `chunks`, whose samples are `samples[i]` long at `sampleRate`. */
export function captionCues(
  chunks: readonly TextChunk[],
  samples: readonly number[],
  sampleRate: number,
): Cue[] {
  const cues: Cue[] = [];
  let at = 0;
  chunks.forEach((chunk, i) => {
    const n = samples[i] ?? 0;
    const text = cueText(chunk.text);
    if (text && n > 0) cues.push({ start: at / sampleRate, end: (at + n) / sampleRate, text });
    at += n;
  });
  return cues;
}

export function webVtt(cues: readonly Cue[]): string {
  const body = cues
    .map((c, i) => `${i + 1}\n${vttTime(c.start)} --> ${vttTime(c.end)}\n${c.text}\n`)
    .join('\n');
  return `WEBVTT\n\n${body}`;
}
