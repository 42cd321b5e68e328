/**
 * The README's Temporal Web UI screenshot: against a running `npm run dev` (reads .data/dev.json), submits
 * an export, then opens the UI's workflow list filtered by `OffloadOwner` in headless Chromium and saves
 * docs/screenshots/temporal-ui.png.   npx tsx scripts/screenshot-temporal-ui.ts
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(import.meta.dirname, '..');
const dev = JSON.parse(await fs.readFile(path.join(ROOT, '.data/dev.json'), 'utf8')) as {
  apiUrl: string;
  temporalUiUrl: string;
  apiKey: string;
};
const headers = { authorization: `Bearer ${dev.apiKey}`, 'content-type': 'application/json' };
const me = (await (await fetch(`${dev.apiUrl}/v1/me`, { headers })).json()) as { userId: string };
for (const format of ['csv', 'xlsx']) {
  await fetch(`${dev.apiUrl}/v1/exports`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ dataset: 'orders', format }),
  });
}
await new Promise((r) => setTimeout(r, 8000));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
const query = encodeURIComponent(`OffloadOwner="${me.userId}"`);
await page.goto(`${dev.temporalUiUrl}/namespaces/default/workflows?query=${query}`);
await page.waitForTimeout(4000);
await fs.mkdir(path.join(ROOT, 'docs/screenshots'), { recursive: true });
await page.screenshot({ path: path.join(ROOT, 'docs/screenshots/temporal-ui.png') });
await browser.close();
console.log(`saved docs/screenshots/temporal-ui.png for OffloadOwner="${me.userId}"`);
