/**
 * The extension path of job kinds, used only as README "Adding a job kind" says: a kind defined here in
 * test code (defineJobKind, registered in jobKinds, its heavy activity run by runHeavyAttempt) goes
 * POST → succeeded → download on the real stack with no change to src, and the dashboard offers it with
 * a form built from its body schema.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from '@hono/zod-openapi';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptDeps, runHeavyAttempt, type HeavyKind } from '../../src/activities/heavy/attempt.js';
import { defineJobKind, heavyPolicy, jobKinds } from '../../src/kinds/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { problems } from '../../src/server/http/problem.js';
import type { JobResult, JobWorkflowInput } from '../../src/shared/jobs.js';
import { WorkflowType } from '../../src/shared/temporal.js';
import { createStorage } from '../../src/storage/index.js';
import { startOutboxRelay, type OutboxRelay } from '../../src/outbox/relay.js';
import { createWorkers } from '../../src/worker/create-workers.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';

interface WordsRequest {
  text: string;
  upper: boolean;
  fileName?: string;
}
interface WordsInput extends WordsRequest {
  jobId: string;
}
interface WordsResult extends JobResult {
  words: number;
}

const countWords = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** The kind's file: its words one per line, upper-cased when asked. */
const render = (r: WordsRequest) =>
  r.text
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => `${r.upper ? w.toUpperCase() : w}\n`)
    .join('');

const wordsKind = defineJobKind<WordsRequest, WordsRequest>({
  name: 'words',
  unit: 'words',
  queue: 'words',
  create: {
    path: '/v1/words',
    operationId: 'words.create',
    tag: 'words',
    summary: 'Split a text into words, one per line',
    schemaName: 'WordsRequest',
    fields: () => ({ text: z.string().min(1).max(10_000), upper: z.boolean().default(false) }),
    refine(body, ctx) {
      if (body.text.trim() === '') ctx.addIssue({ code: 'custom', path: ['text'], message: 'has no words' });
    },
  },
  api: () => ({
    prepare(body) {
      // A check that needs more than the schema, refused as the built-in kinds refuse theirs.
      if (body.text.includes('forbidden'))
        throw problems.validation([{ field: 'text', in: 'body', reason: 'says a forbidden word' }]);
      return Promise.resolve(body);
    },
  }),
  workflow(job, start) {
    const request = job.request as WordsRequest;
    const input: JobWorkflowInput = {
      jobId: job.id,
      userId: job.userId,
      kind: 'words',
      unit: 'words',
      activity: 'splitWords',
      activityInput: { jobId: job.id, ...request } satisfies WordsInput,
      heavyQueue: start.queue('words'),
      summary: `words of ${request.text.length} characters`,
      policy: heavyPolicy(start.config, 'EXPORT'),
      scheduling: start.scheduling,
      retentionMs: start.retentionMs,
    };
    return { type: WorkflowType.job, input, summary: `words for ${job.userId}` };
  },
  view: {
    request: z.object({ text: z.string(), upper: z.boolean() }),
    resultFields: { words: z.number().optional() },
    contentTypes: ['text/plain; charset=utf-8'],
    done: (result) => (result as WordsResult).words,
  },
  dashboard: { title: 'New word list', submitLabel: 'Split', form: 'generic' },
  worker: () =>
    Promise.resolve({
      create: ({ deps }) => {
        const heavy: HeavyKind<WordsInput, WordsResult> = {
          name: 'words',
          workPhase: 'split',
          begin: (input) => ({
            resumedFrom: 0,
            started: { message: 'words started', fields: {} },
            checkpoint: () => null,
            fileName: input.fileName ?? `words-${input.jobId}.txt`,
            async work(attempt) {
              const n = countWords(input.text);
              await attempt.report(n, n, true);
            },
            async publish(key) {
              const body = render(input);
              const published = await deps.storage.writeObject(key, Readable.from([Buffer.from(body)]));
              const words = countWords(input.text);
              return {
                result: {
                  storageKey: key,
                  fileName: input.fileName ?? `words-${input.jobId}.txt`,
                  contentType: 'text/plain; charset=utf-8',
                  bytes: published.bytes,
                  sha256: published.sha256,
                  words,
                },
                workDone: words,
                fields: { words },
              };
            },
          }),
        };
        const activities = {
          splitWords: (input: WordsInput) => runHeavyAttempt(attemptDeps(deps), heavy, input),
        };
        return Promise.resolve({ activities, concurrency: 2 });
      },
    }),
});

let stack: Stack;
let key: string;
let connection: NativeConnection;
let workers: Worker[];
let running: Promise<void>[];
let relay: OutboxRelay;

beforeAll(async () => {
  jobKinds.register(wordsKind);
  // Workers in this process: a child process would not know the kind defined here.
  stack = await startStack({ queues: [] });
  key = (await stack.newUser('kinds-tenant')).key;
  connection = await NativeConnection.connect({ address: stack.config.temporal.connection.address });
  workers = await createWorkers({
    config: stack.config,
    queues: ['jobs', 'words'],
    connection,
    database: stack.database,
    storage: createStorage(stack.config),
    log: createLogger({ level: 'warn', name: 'kinds-test' }),
  });
  running = workers.map((w) => w.run());
  // As src/worker/index.ts does beside a `jobs` worker: the relay starts the recorded jobs' workflows.
  relay = await startOutboxRelay({
    config: stack.config,
    database: stack.database,
    temporal: stack.temporal.client,
    log: createLogger({ level: 'warn', name: 'kinds-test' }),
  });
});

afterAll(async () => {
  await relay?.stop();
  for (const w of workers ?? []) w.shutdown();
  await Promise.allSettled(running ?? []);
  await connection?.close();
  await stack?.stop();
});

describe('a job kind defined outside src', () => {
  it('runs POST → succeeded → download through the kind extension points alone', async () => {
    const call = api(stack, key);
    const text = 'the quick brown fox\njumps over   the lazy dog';
    const res = await call('/v1/words', {
      method: 'POST',
      body: JSON.stringify({ text, upper: true, fileName: 'fox.txt' }),
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as { id: string; kind: string; state: string; request: unknown };
    expect(job).toMatchObject({ kind: 'words', state: 'queued', request: { text, upper: true } });

    const done = await eventually(async () => {
      const body = (await (await call(`/v1/jobs/${job.id}`)).json()) as {
        state: string;
        progress: { done: number; unit: string; percent: number };
        result: { words: number; bytes: number; sha256: string; fileName: string } | null;
      };
      return body.state === 'succeeded' || body.state === 'failed' ? body : undefined;
    });
    expect(done.state).toBe('succeeded');
    expect(done.progress).toMatchObject({ done: 9, unit: 'words', percent: 100 });
    expect(done.result).toMatchObject({ words: 9, fileName: 'fox.txt' });

    const download = await call(`/v1/jobs/${job.id}/download`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const file = await download.text();
    expect(file).toBe('THE\nQUICK\nBROWN\nFOX\nJUMPS\nOVER\nTHE\nLAZY\nDOG\n');
    expect(done.result!.sha256).toBe(createHash('sha256').update(file).digest('hex'));

    const listed = (await (await call('/v1/jobs?kind=words')).json()) as { items: { id: string }[] };
    expect(listed.items.map((j) => j.id)).toEqual([job.id]);
  });

  it("refuses a bad body with the kind's own checks, as problem+json naming the field", async () => {
    const call = api(stack, key);
    for (const [body, field] of [
      [{ text: '   ' }, 'text'],
      [{ text: 'a forbidden word' }, 'text'],
      [{ text: 'ok', upper: 'yes' }, 'upper'],
      [{ text: 'ok', extra: 1 }, 'extra'],
    ] as const) {
      const res = await call('/v1/words', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const problem = (await res.json()) as { errors: { field: string }[] };
      expect(problem.errors.map((e) => e.field)).toContain(field);
    }
  });

  it('is listed in the OpenAPI document with its body', async () => {
    const doc = (await (await fetch(`${stack.baseUrl}/openapi.json`)).json()) as {
      paths: Record<string, { post?: { operationId: string } }>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.paths['/v1/words']?.post?.operationId).toBe('words.create');
    expect(doc.components.schemas.WordsRequest).toBeDefined();
  });
});

describe('the dashboard', () => {
  it("offers the kind with a form built from its body schema, and submits it to the kind's route", async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: Error[] = [];
      page.on('pageerror', (err) => errors.push(err));
      await page.goto(stack.baseUrl);
      await page.getByLabel('API key').fill(key);
      await page.keyboard.press('Enter');
      const card = page.locator('#kind-words-card');
      await expect.poll(() => card.getByRole('heading').textContent()).toBe('New word list');
      // The kind's own fields, typed from the schema: a required text, a boolean as a checkbox.
      await expect.poll(() => card.getByLabel('Text', { exact: true }).count()).toBe(1);
      expect(await card.getByLabel('Upper').getAttribute('type')).toBe('checkbox');
      // A bad body gets the API's problem, naming the field, in the card.
      await card.getByLabel('Text', { exact: true }).fill('a forbidden word');
      await card.getByRole('button', { name: 'Split' }).click();
      await expect
        .poll(() => card.locator('.message').textContent())
        .toContain('text: says a forbidden word');

      await card.getByLabel('Text', { exact: true }).fill('hello dashboard world');
      await card.getByLabel('Upper').check();
      await card.getByRole('button', { name: 'Split' }).click();
      await expect.poll(() => card.locator('.message').textContent()).toMatch(/Started job_/);
      const jobId = /(job_\w+)/.exec((await card.locator('.message').textContent()) ?? '')![1]!;
      const job = (await (await api(stack, key)(`/v1/jobs/${jobId}`)).json()) as {
        kind: string;
        request: unknown;
      };
      expect(job).toMatchObject({ kind: 'words', request: { text: 'hello dashboard world', upper: true } });
      await expect
        .poll(() => page.locator(`#job-${jobId}`).getAttribute('data-state'), { timeout: 30_000 })
        .toBe('succeeded');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
