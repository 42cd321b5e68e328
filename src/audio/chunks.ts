/**
 * Cutting text into chunks for synthesis: whole sentences (Intl.Segmenter), packed up to a size limit.
 * The cut depends only on the text, the locale and the limit, so every attempt of a job cuts the same
 * chunks; the chunks concatenate back to exactly the text.
 */

export interface TextChunk {
  index: number;
  /** Offset of the chunk in the text (UTF-16 code units). */
  start: number;
  text: string;
}

function segments(text: string, locale: string, granularity: 'sentence' | 'word'): string[] {
  let segmenter: Intl.Segmenter;
  try {
    segmenter = new Intl.Segmenter(locale, { granularity });
  } catch {
    segmenter = new Intl.Segmenter('en', { granularity });
  }
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

/** A piece no longer than `max`: a sentence as is, else cut at word boundaries, else hard-cut. */
function pieces(sentence: string, locale: string, max: number): string[] {
  if (sentence.length <= max) return [sentence];
  const out: string[] = [];
  let current = '';
  for (const word of segments(sentence, locale, 'word')) {
    if (current.length + word.length > max && current.length > 0) {
      out.push(current);
      current = '';
    }
    let w = word;
    while (w.length > max) {
      // Never split a surrogate pair.
      let cut = max;
      const code = w.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut--;
      out.push(w.slice(0, cut));
      w = w.slice(cut);
    }
    current += w;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Split `text` into chunks of whole sentences, each at most `maxChars` long where a sentence allows;
 * with `pack` false, one sentence per chunk (a longer one still cut at `maxChars`).
 */
export function chunkText(text: string, maxChars: number, locale = 'en', pack = true): TextChunk[] {
  if (maxChars < 1) throw new RangeError('maxChars must be at least 1');
  const chunks: TextChunk[] = [];
  let current = '';
  let start = 0;
  const flush = () => {
    if (current.length === 0) return;
    chunks.push({ index: chunks.length, start, text: current });
    start += current.length;
    current = '';
  };
  for (const sentence of segments(text, locale, 'sentence')) {
    for (const piece of pieces(sentence, locale, maxChars)) {
      if (current.length + piece.length > maxChars) flush();
      current += piece;
    }
    if (!pack) flush();
  }
  flush();
  return chunks;
}

/** The main language of a voice id, as a locale for the segmenter (`en-gb-x-rp`, `en_us-joe-medium` → `en`). */
export function localeOfVoice(voice: string): string {
  return voice.split(/[-_]/)[0] || 'en';
}
