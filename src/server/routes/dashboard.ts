/**
 * The web dashboard at `/`: an HTML shell plus one script and one stylesheet served from this
 * process (no CDN, works offline). Not part of the OpenAPI document: it is a client of /v1.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Hono } from 'hono';
import type { AppEnv } from '../http/context.js';
import { problems } from '../http/problem.js';
import { dashboardPage, type DashboardKind } from '../dashboard/page.js';

interface Asset {
  body: string;
  type: string;
  etag: string;
}

function loadAsset(file: string, type: string): Asset {
  const body = readFileSync(new URL(`../dashboard/assets/${file}`, import.meta.url), 'utf8');
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Scripts and styles from this origin only; the page talks to this origin only. */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; media-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export function registerDashboardRoutes(app: Hono<AppEnv>, kinds: readonly DashboardKind[]): void {
  const assets: Record<string, Asset> = {
    'dashboard.js': loadAsset('dashboard.js', 'text/javascript; charset=utf-8'),
    'dashboard.css': loadAsset('dashboard.css', 'text/css; charset=utf-8'),
  };
  const version = createHash('sha256')
    .update(
      Object.values(assets)
        .map((a) => a.etag)
        .join(),
    )
    .digest('hex')
    .slice(0, 12);

  app.get('/', (c) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
    c.header('Cache-Control', 'no-cache');
    return c.html(dashboardPage(version, kinds));
  });

  app.get('/assets/:file', (c) => {
    // Own keys only: `/assets/__proto__` is not an asset. A 404 of its own, not c.notFound(): the app's
    // not-found answer is for paths no route takes (a 405 when another method would).
    const file = c.req.param('file');
    const asset = Object.hasOwn(assets, file) ? assets[file] : undefined;
    if (!asset) throw problems.notFound(`asset ${file}`);
    const headers = {
      ETag: asset.etag,
      'Cache-Control': 'public, max-age=3600',
      'X-Content-Type-Options': 'nosniff',
    };
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, { ...headers, 'Content-Type': asset.type });
  });
}
