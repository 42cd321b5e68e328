/**
 * Encoding segments: consecutive chunks encoded by one encoder process and stored as one part. An MP3
 * stream is a sequence of independent frames, so segments encoded apart and concatenated are one valid
 * stream; the joins fall at sentence ends, inside the pause that ends every chunk (each segment adds
 * the encoder's start delay, about 50 ms of silence). Segments are cut from the chunks alone, so every
 * attempt and every uninterrupted run cut the same segments and produce the same bytes; segments can be
 * encoded in parallel, and a retry keeps the segments an earlier attempt encoded.
 */
import type { TextChunk } from './chunks.js';

export interface Segment {
  index: number;
  chunks: TextChunk[];
  characters: number;
}

/** Group chunks into segments of at most `maxChars` characters (at least one chunk each). */
export function segmentChunks(chunks: TextChunk[], maxChars: number): Segment[] {
  const segments: Segment[] = [];
  let current: Segment | undefined;
  for (const chunk of chunks) {
    if (!current || (current.characters + chunk.text.length > maxChars && current.chunks.length > 0)) {
      current = { index: segments.length, chunks: [], characters: 0 };
      segments.push(current);
    }
    current.chunks.push(chunk);
    current.characters += chunk.text.length;
  }
  return segments;
}
