/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core): sign in, submit an
 * export and watch its bar move, cancel another, download a finished one and check the file and its
 * size, play a finished audio job, and, as an admin, retry a dead letter from its row.
 * Screenshots of the main screens go to SCREENSHOT_DIR when set (docs/screenshots holds the committed ones).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv, seedTenant, tenantRowsAsText } from '../helpers/data.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';
import { withFailingPublish } from '../helpers/failing-publish.js';

const CHROMIUM = '/usr/bin/chromium';
const ROWS = 20_000;

let stack: Stack;
let browser: Browser;
let page: Page;
let tenant: string;
let key: string;

async function shot(p: Page, name: string): Promise<void> {
  const dir = process.env.SCREENSHOT_DIR;
  if (!dir) return;
  await fs.mkdir(dir, { recursive: true });
  await p.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/** The value of the job's progress bar, or undefined while its row is not shown. */
async function barValue(p: Page, jobId: string): Promise<number | undefined> {
  const bar = p.locator(`#job-${jobId} progress`);
  if ((await bar.count()) === 0) return undefined;
  return Number(await bar.getAttribute('value'));
}

async function stateOf(p: Page, jobId: string): Promise<string | null> {
  const row = p.locator(`#job-${jobId}`);
  return (await row.count()) === 0 ? null : row.getAttribute('data-state');
}

/** Submit the export form with the current choices; returns the new job's id from the status line. */
async function startExport(p: Page): Promise<string> {
  await p.getByRole('button', { name: 'Start export' }).click();
  const message = p.locator('#export-message');
  await expect.poll(() => message.textContent(), { timeout: 10_000 }).toMatch(/Started job_/);
  return /(job_\w+)/.exec((await message.textContent()) ?? '')![1]!;
}

beforeAll(async () => {
  // Slow enough to watch the bar and to cancel before the end.
  stack = await startStack({
    queues: ['jobs', 'exports', 'audio'],
    env: { EXPORT_PART_ROWS: '1000', EXPORT_MAX_ROWS_PER_SEC: '4000', EXPORT_MAX_ATTEMPTS: '2' },
  });
  tenant = await seedTenant(stack.database.sql, ROWS);
  key = (await stack.newUser(tenant)).key;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('dashboard', () => {
  it('is served from this origin only, with a content security policy', async () => {
    const res = await fetch(`${stack.baseUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
  });

  it('signs in with the keyboard, keeps the key out of the URL, and refuses a wrong key', async () => {
    await page.goto(stack.baseUrl);
    await shot(page, 'sign-in');
    await page.getByLabel('API key').fill('ofk_wrong_key');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#signin-error').textContent()).toContain('not valid');

    await page.getByLabel('API key').fill(key);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#who').textContent()).toContain(tenant);
    expect(page.url()).not.toContain(key);
    expect(await page.evaluate<string | null>("sessionStorage.getItem('offload.apiKey')")).toBe(key);
    // Every form control has an accessible name.
    // (Browser-side expressions are strings: this file is type-checked without the DOM library.)
    const unnamed = await page.evaluate<string[]>(
      `[...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !el.labels?.length && !el.getAttribute('aria-label')).map((el) => el.id)`,
    );
    expect(unnamed).toEqual([]);
  });

  it('estimates an export, submits it and shows its bar rising to done, then downloads the file', async () => {
    await page.getByLabel('Dataset').selectOption('orders');
    await page.getByLabel('Format').first().selectOption('csv');
    // Before submitting: the estimate of the tenant's rows, counted.
    await expect
      .poll(() => page.locator('#export-estimate').textContent(), { timeout: 10_000 })
      .toContain(`Estimate: ${ROWS.toLocaleString('en-US')} rows (counted)`);
    const jobId = await startExport(page);

    const seen: number[] = [];
    await eventually(
      async () => {
        const v = await barValue(page, jobId);
        if (v !== undefined) seen.push(v);
        return (await stateOf(page, jobId)) === 'succeeded' ? true : undefined;
      },
      60_000,
      100,
    );
    await shot(page, 'jobs');
    expect(seen.some((v) => v > 0 && v < 100)).toBe(true); // moved while running
    expect(await barValue(page, jobId)).toBe(100);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: `Download ${jobId}` }).click(),
    ]);
    const file = path.join(stack.storageDir, 'downloaded.csv');
    await download.saveAs(file);
    const records = parseCsv(await fs.readFile(file, 'utf8'));
    expect(records.length).toBe(ROWS + 1);
    // The row shows the file's size.
    const size = (await fs.stat(file)).size;
    expect(await page.locator(`#job-${jobId} .eta`).textContent()).toBe(
      `done · ${(size / 1e6).toFixed(size < 1e7 ? 1 : 0)} MB`,
    );
    expect(records.slice(1)).toEqual(await tenantRowsAsText(stack.database.sql, tenant));
  }, 90_000);

  it('cancels a running export from its row', async () => {
    const jobId = await startExport(page);
    await eventually(async () => ((await barValue(page, jobId)) ?? 0) > 0 || undefined, 30_000);
    await page.getByRole('button', { name: `Cancel ${jobId}` }).click();
    await eventually(async () => ((await stateOf(page, jobId)) === 'cancelled' ? true : undefined), 30_000);
    await expect.poll(() => page.locator(`#job-${jobId} .badge`).textContent()).toBe('cancelled');
    await expect.poll(() => page.getByRole('button', { name: `Retry ${jobId}` }).count()).toBe(1);
  }, 60_000);

  it('plays a finished audio job, labelled with the length of its text', async () => {
    const text = 'The dashboard plays this sentence. And this one too.';
    await page.getByLabel('Text').fill(text);
    await page.getByRole('button', { name: 'Generate audio' }).click();
    const message = page.locator('#audio-message');
    await expect.poll(() => message.textContent(), { timeout: 10_000 }).toMatch(/Started job_/);
    const jobId = /(job_\w+)/.exec((await message.textContent()) ?? '')![1]!;
    await eventually(async () => ((await stateOf(page, jobId)) === 'succeeded' ? true : undefined), 60_000);
    await expect
      .poll(() => page.locator(`#job-${jobId} td[data-label=Job] div`).first().textContent())
      .toContain(`${text.length} characters`);
    await page.getByRole('button', { name: `Play ${jobId}` }).click();
    await expect.poll(() => page.locator('#player-card').isVisible()).toBe(true);
    // The browser decoded the file: it knows the audio's duration.
    const duration = await eventually(async () => {
      const d = await page.evaluate<number>("document.getElementById('player').duration");
      return Number.isFinite(d) && d > 0 ? d : undefined;
    }, 15_000);
    expect(duration).toBeGreaterThan(1);
    // The captions play with it: the track loaded one cue per sentence.
    const cues = await eventually(async () => {
      const texts = await page.evaluate<string[]>(
        "Array.from(document.querySelector('#player track')?.track.cues ?? [], (c) => c.text)",
      );
      return texts.length > 0 ? texts : undefined;
    }, 15_000);
    expect(cues).toEqual(['The dashboard plays this sentence.', 'And this one too.']);
    await shot(page, 'audio');
  }, 90_000);

  it('shows an admin the dead letters, and retries one from its row', async () => {
    const jobId = await withFailingPublish(stack.storageDir, async () => {
      const id = await startExport(page);
      await eventually(async () => ((await stateOf(page, id)) === 'failed' ? true : undefined), 60_000);
      return id;
    });
    const admin = await stack.newUser('ops', 'admin');
    const adminPage = await page.context().newPage();
    await adminPage.goto(stack.baseUrl);
    await adminPage.getByLabel('API key').fill(admin.key);
    await adminPage.keyboard.press('Enter');
    const row = adminPage.locator('#dead tbody tr', { hasText: jobId });
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
    await shot(adminPage, 'dead-letters');
    await row.getByRole('button', { name: `Retry ${jobId}` }).click();
    // The redrive belongs to the job's owner: it shows in the owner's list and succeeds.
    await page.getByRole('button', { name: 'Refresh' }).click();
    const redrive = await eventually(async () => {
      const ids = await page.evaluate<string[]>(
        "[...document.querySelectorAll('#jobs tbody tr')].map((r) => r.id)",
      );
      return ids.find((id) => id !== `job-${jobId}` && id.startsWith('job-'))?.slice('job-'.length);
    }, 30_000);
    await eventually(async () => ((await stateOf(page, redrive)) === 'succeeded' ? true : undefined), 60_000);
    await adminPage.close();
  }, 120_000);

  it('fits a phone-sized screen without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await expect.poll(() => page.locator('#who').textContent()).toContain(tenant);
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await shot(page, 'phone');
    await page.setViewportSize({ width: 1200, height: 900 });
  });
});
