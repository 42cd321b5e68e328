/**
 * From espeak-ng's clauses to a Piper voice's phoneme ids, the way Piper does it: each clause's IPA
 * with espeak's language-switch flags removed, its terminator kept (a comma, colon or semicolon also
 * gets a space, since it does not end the sentence), decomposed (NFD) into code points; clauses are
 * grouped into sentences where espeak-ng says a sentence ends; each sentence becomes `^ _ p _ p _ … $`
 * through the voice's `phoneme_id_map`. Pure functions: test/unit/audio-phonemes.test.ts checks them
 * against piper-tts's own phonemizer.
 */

/** One clause as espeak-ng's `espeak_TextToPhonemesWithTerminator` reports it. */
export interface Clause {
  phonemes: string;
  /** The clause's punctuation: `.`, `?`, `!`, `,`, `:`, `;` or empty. */
  terminator: string;
  endOfSentence: boolean;
}

export type PhonemeIdMap = Readonly<Record<string, readonly number[]>>;

const PAD = '_';
const BOS = '^';
const EOS = '$';
const LANGUAGE_FLAG = /\([^)]+\)/g;

/** Phonemes (code points) per sentence; a text without a final terminator still ends its sentence. */
export function sentencesOfClauses(clauses: readonly Clause[]): string[][] {
  const sentences: string[][] = [];
  let current: string[] = [];
  for (const clause of clauses) {
    let text = clause.phonemes.replace(LANGUAGE_FLAG, '') + clause.terminator;
    if (clause.terminator === ',' || clause.terminator === ':' || clause.terminator === ';') text += ' ';
    current.push(...Array.from(text.normalize('NFD')));
    if (clause.endOfSentence) {
      sentences.push(current);
      current = [];
    }
  }
  if (current.length > 0) sentences.push(current);
  return sentences.filter((s) => s.length > 0);
}

export interface PhonemeIds {
  ids: number[];
  /** Phonemes the voice's map does not have (left out, as Piper does). */
  missing: string[];
}

/** A sentence's ids: BOS, PAD, then each known phoneme followed by PAD, then EOS. */
export function phonemeIds(phonemes: readonly string[], map: PhonemeIdMap): PhonemeIds {
  const ids: number[] = [...(map[BOS] ?? []), ...(map[PAD] ?? [])];
  const missing: string[] = [];
  for (const phoneme of phonemes) {
    const mapped = map[phoneme];
    if (!mapped) {
      missing.push(phoneme);
      continue;
    }
    ids.push(...mapped, ...(map[PAD] ?? []));
  }
  ids.push(...(map[EOS] ?? []));
  return { ids, missing };
}

/** Whether a sentence's ids carry anything to say (more than the frame and pads). */
export function hasSpeech(ids: readonly number[], map: PhonemeIdMap): boolean {
  const frame = new Set([...(map[BOS] ?? []), ...(map[PAD] ?? []), ...(map[EOS] ?? [])]);
  return ids.some((id) => !frame.has(id));
}
