/**
 * The OpenAPI document against the running API, checked by schemathesis (pinned, provisioned by `npm run
 * setup -- --for test`, tools/schemathesis.ts) with `--checks all`: every status and content type
 * declared, responses, headers and server-sent events as declared, requests valid by the document
 * accepted and invalid ones refused, 405 with `Allow` for other methods. Any finding fails the test with
 * schemathesis' report. Its settings, and why, are in schemathesis.toml beside this file.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireSchemathesis } from '../../tools/schemathesis.js';
import { startStack, type Stack } from '../helpers/stack.js';

const CONFIG = fileURLToPath(new URL('./schemathesis.toml', import.meta.url));
const HOOKS = fileURLToPath(new URL('./schemathesis_hooks.py', import.meta.url));
/** Test cases per operation and phase: a few minutes on a loaded two-core machine. */
const MAX_EXAMPLES = 25;

let stack: Stack;
let key: string;

beforeAll(async () => {
  stack = await startStack({
    // Exports run, so downloads and event streams that end are exercised too; audio jobs stay queued.
    queues: ['jobs', 'exports'],
    env: {
      // Limits that depend on what a user holds, not on the request, are out of the way: the request rate
      // (schemathesis sends thousands), active jobs and the heavy backlog (every accepted POST adds a
      // job), and the highest priority a key may ask for (the document allows 1 to 5).
      RATE_LIMIT_PER_SEC: '10000',
      RATE_LIMIT_BURST: '10000',
      USER_MAX_ACTIVE_JOBS: '100000',
      HEAVY_BACKLOG_MAX: '100000',
      USER_HIGHEST_PRIORITY: '1',
      EVENTS_POLL_INTERVAL_MS: '200',
    },
  });
  ({ key } = await stack.newUser('t-schemathesis'));
});

afterAll(async () => {
  await stack?.stop();
});

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_HOOKS: HOOKS },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe('schemathesis --checks all', () => {
  it('finds nothing', { timeout: 900_000 }, async () => {
    const st = requireSchemathesis();
    // Its working directory: anything it writes stays out of the repository.
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'offload-schemathesis-'));
    try {
      const { code, output } = await run(
        st,
        [
          ...['--config-file', CONFIG, 'run', `${stack.baseUrl}/openapi.json`],
          ...['--checks', 'all', '--header', `Authorization: Bearer ${key}`],
          // One worker: with two threads, CPython 3.11's ast.parse (hypothesis describing a lambda) can fail
          // with "AST constructor recursion depth mismatch", a race in the interpreter, not a finding.
          ...['--max-examples', String(MAX_EXAMPLES), '--workers', '1'],
          ...['--generation-database', 'none', '--no-color'],
        ],
        cwd,
      );
      console.log(output.split('\n').slice(-25).join('\n'));
      // schemathesis' report: its failures, then the summary (a runtime error's traceback can be long).
      const report =
        output.length > 30_000 ? `${output.slice(0, 10_000)}\n…\n${output.slice(-20_000)}` : output;
      expect(code, report).toBe(0);
      expect(output).toMatch(/No issues found|passed/);
    } finally {
      await fs.rm(cwd, { recursive: true, force: true });
    }
  });
});
