/** Deterministic English prose of a given length, for audio tests and benchmarks. */

const SUBJECTS = [
  'The old lighthouse keeper',
  'A quiet engineer',
  'Our neighbour',
  'The train to Lisbon',
  'Every morning the baker',
  'The committee',
  'A small grey cat',
  'The river',
];
const VERBS = ['watched', 'counted', 'carried', 'remembered', 'painted', 'followed', 'measured', 'ignored'];
const OBJECTS = [
  'the boats in the harbour',
  'seventeen wooden crates',
  'the colour of the evening sky',
  'a letter from nineteen ninety',
  'the slow ticking of the clock',
  'every word of the old song',
  'the distance to the northern hills',
  'a basket of ripe apples',
];
const ENDINGS = [
  'before the rain began',
  'without saying a word',
  'while the town was asleep',
  'as if nothing had happened',
  'for the third time that week',
  'and then went home',
];

/** `chars` characters (cut at a sentence end where possible) of varied sentences; same output for the same input. */
export function speechText(chars: number, seed = 1): string {
  let x = seed >>> 0 || 1;
  const pick = <T>(list: T[]): T => {
    // xorshift32: deterministic and good enough to vary the sentences.
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return list[x % list.length]!;
  };
  let text = '';
  let n = 0;
  while (text.length < chars) {
    n++;
    const sentence = `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)} ${pick(ENDINGS)}${n % 5 === 0 ? '?' : '.'}`;
    text += (n % 7 === 0 ? '\n\n' : text ? ' ' : '') + sentence;
  }
  return text.slice(0, chars);
}
