/**
 * Piper voices as files: every `<name>.onnx` beside a `<name>.onnx.json` in VOICES_DIR is a voice. The
 * config says its language, quality, sample rate, inference scales and phoneme map; the model's sha256
 * (recorded with each job) is computed once per file version (size and mtime).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { PhonemeIdMap } from './phonemes.js';

export interface PiperVoiceFile {
  /** Lower-case file stem, e.g. `en_us-joe-medium`: what a request names in `voice`. */
  id: string;
  /** The stem as on disk, e.g. `en_US-joe-medium`. */
  name: string;
  modelPath: string;
  configPath: string;
  /** BCP 47-ish, lower case: `en-us`, then `en`. */
  languages: string[];
  /** The espeak-ng voice its phonemes come from (`espeak.voice`). */
  espeakVoice: string;
  quality: string | null;
  sampleRate: number;
  /** From a `MODEL_CARD` or `LICENSE` file beside the model, or the config's `license`, else null. */
  license: string | null;
  noiseScale: number;
  lengthScale: number;
  noiseW: number;
  phonemeIdMap: PhonemeIdMap;
  numSpeakers: number;
}

interface PiperConfigJson {
  audio?: { sample_rate?: unknown; quality?: unknown };
  espeak?: { voice?: unknown };
  inference?: { noise_scale?: unknown; length_scale?: unknown; noise_w?: unknown };
  phoneme_type?: unknown;
  phoneme_id_map?: unknown;
  num_speakers?: unknown;
  language?: { code?: unknown };
  license?: unknown;
  dataset?: unknown;
}

const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

/** Parses a voice config; throws naming the file and the field when it is not a usable espeak voice. */
export function parseVoiceConfig(
  stem: string,
  dir: string,
  json: unknown,
  license: string | null,
): PiperVoiceFile {
  const file = path.join(dir, `${stem}.onnx.json`);
  const c = json as PiperConfigJson;
  const fail = (what: string) => new Error(`${file}: ${what}`);
  if (typeof c !== 'object' || c === null) throw fail('not a JSON object');
  if (c.phoneme_type !== undefined && c.phoneme_type !== 'espeak')
    throw fail(`phoneme_type ${JSON.stringify(c.phoneme_type)} is not supported (only espeak)`);
  const espeakVoice = c.espeak?.voice;
  if (typeof espeakVoice !== 'string' || !/^[a-z]{2,3}(-[a-z0-9-]+)?$/i.test(espeakVoice))
    throw fail('espeak.voice is missing');
  const sampleRate = c.audio?.sample_rate;
  if (typeof sampleRate !== 'number' || !Number.isInteger(sampleRate) || sampleRate <= 0)
    throw fail('audio.sample_rate is missing');
  const map = c.phoneme_id_map;
  if (typeof map !== 'object' || map === null) throw fail('phoneme_id_map is missing');
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
    if (!Array.isArray(v) || !v.every((n) => Number.isInteger(n)))
      throw fail(`phoneme_id_map[${k}] is not a list of ids`);
  }
  const code = typeof c.language?.code === 'string' ? c.language.code.toLowerCase().replace('_', '-') : '';
  const main = code || espeakVoice.toLowerCase();
  const languages = [...new Set([main, main.split('-')[0]!])];
  return {
    id: stem.toLowerCase(),
    name: stem,
    modelPath: path.join(dir, `${stem}.onnx`),
    configPath: file,
    languages,
    espeakVoice,
    quality: typeof c.audio?.quality === 'string' ? c.audio.quality : null,
    sampleRate,
    license: typeof c.license === 'string' ? c.license : license,
    noiseScale: num(c.inference?.noise_scale, 0.667),
    lengthScale: num(c.inference?.length_scale, 1),
    noiseW: num(c.inference?.noise_w, 0.8),
    phonemeIdMap: map as PhonemeIdMap,
    numSpeakers: num(c.num_speakers, 1),
  };
}

/** A licence named in a model card (`License: CC0`, `* License: cc0-1.0` …), if any. */
export function licenseOfModelCard(text: string): string | null {
  const m = /licen[cs]e\s*[:=]\s*`?([A-Za-z0-9.+\- ]+?)`?\s*$/im.exec(text);
  return m ? m[1]!.trim() : null;
}

/** Every voice in `dir` (sorted by id); a missing folder has none, an unreadable config throws. */
export async function readVoiceDir(dir: string): Promise<PiperVoiceFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const voices: PiperVoiceFile[] = [];
  for (const name of names.filter((n) => n.endsWith('.onnx')).sort()) {
    const stem = name.slice(0, -'.onnx'.length);
    if (!names.includes(`${name}.json`)) continue;
    const json: unknown = JSON.parse(await fs.readFile(path.join(dir, `${name}.json`), 'utf8'));
    let license: string | null = null;
    for (const card of [`${stem}.MODEL_CARD`, 'MODEL_CARD', `${stem}.LICENSE`]) {
      const text = await fs.readFile(path.join(dir, card), 'utf8').catch(() => undefined);
      if (text !== undefined) {
        license = licenseOfModelCard(text);
        if (license) break;
      }
    }
    voices.push(parseVoiceConfig(stem, dir, json, license));
  }
  return voices;
}

const hashes = new Map<string, { key: string; sha256: Promise<string> }>();

/** The model file's sha256, computed once per size and mtime. */
export async function modelSha256(file: string): Promise<string> {
  const stat = await fs.stat(file);
  const key = `${stat.size}:${stat.mtimeMs}`;
  const known = hashes.get(file);
  if (known?.key === key) return known.sha256;
  const sha256 = (async () => {
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), hash);
    return hash.digest('hex');
  })();
  sha256.catch(() => hashes.delete(file));
  hashes.set(file, { key, sha256 });
  return sha256;
}
