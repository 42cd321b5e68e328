/**
 * `/docs`: a self-contained page that renders /openapi.json in the browser. Everything it needs is inline
 * (no CDN, no external font or script), so it works offline and under a strict Content-Security-Policy.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './context.js';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>offload API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
header{background:#1d2330;color:#fff;padding:1rem 2rem}header h1{margin:0;font-size:1.4rem}
main{max-width:70rem;margin:0 auto;padding:1rem 2rem}
details{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:.5rem 0}
summary{cursor:pointer;padding:.6rem .8rem;font-family:ui-monospace,monospace}
.m{display:inline-block;width:4.5rem;font-weight:700}.get{color:#0a7d32}.post{color:#8a4b00}.put{color:#1f4fbf}.delete{color:#b3261e}
.body{padding:0 1rem 1rem}pre{background:#f0f2f5;padding:.6rem;overflow:auto;border-radius:4px;font-size:13px}
table{border-collapse:collapse}td,th{border-bottom:1px solid #e6e9ef;padding:.25rem .6rem;text-align:left;vertical-align:top}
h2{margin-top:1.5rem;text-transform:capitalize}
</style>
</head>
<body>
<header><h1 id="title">offload API</h1><div id="desc"></div></header>
<main id="main"><p>Loading <a href="/openapi.json">/openapi.json</a>…</p></main>
<script>
(async () => {
  const spec = await (await fetch('/openapi.json')).json();
  const el = (tag, attrs, ...kids) => { const e = document.createElement(tag); Object.assign(e, attrs || {}); for (const k of kids) e.append(k); return e; };
  const resolve = (s) => { if (s && s.$ref) return spec.components.schemas[s.$ref.split('/').pop()] || s; return s; };
  const show = (s, depth = 0) => {
    s = resolve(s); if (!s || depth > 6) return s;
    if (s.properties) return Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k + ((s.required || []).includes(k) ? '' : '?'), show(v, depth + 1)]));
    if (s.items) return [show(s.items, depth + 1)];
    if (s.enum) return s.enum.join(' | ');
    if (s.anyOf || s.oneOf) return (s.anyOf || s.oneOf).map((x) => JSON.stringify(show(x, depth + 1))).join(' | ');
    return s.type || s;
  };
  document.getElementById('title').textContent = spec.info.title + ' ' + spec.info.version + ' (OpenAPI ' + spec.openapi + ')';
  document.getElementById('desc').textContent = spec.info.description || '';
  const main = document.getElementById('main'); main.textContent = '';
  const byTag = {};
  for (const [path, ops] of Object.entries(spec.paths)) for (const [method, op] of Object.entries(ops)) {
    const tag = (op.tags || ['other'])[0]; (byTag[tag] = byTag[tag] || []).push({ path, method, op });
  }
  for (const [tag, list] of Object.entries(byTag)) {
    main.append(el('h2', { textContent: tag }));
    for (const { path, method, op } of list) {
      const body = el('div', { className: 'body' });
      if (op.description) body.append(el('p', { textContent: op.description }));
      if (op.security && op.security.length) body.append(el('p', { textContent: 'Authorization: Bearer <API key>' }));
      if (op.parameters && op.parameters.length) {
        const t = el('table', {}, el('tr', {}, el('th', { textContent: 'parameter' }), el('th', { textContent: 'in' }), el('th', { textContent: 'schema' }), el('th', { textContent: 'description' })));
        for (const p of op.parameters) t.append(el('tr', {}, el('td', { textContent: p.name + (p.required ? '' : '?') }), el('td', { textContent: p.in }), el('td', { textContent: JSON.stringify(show(p.schema)) }), el('td', { textContent: p.description || '' })));
        body.append(t);
      }
      const rb = op.requestBody && op.requestBody.content;
      if (rb) for (const [type, c] of Object.entries(rb)) body.append(el('p', { textContent: 'Body (' + type + ')' }), el('pre', { textContent: JSON.stringify(show(c.schema), null, 2) }));
      for (const [status, r] of Object.entries(op.responses || {})) {
        body.append(el('p', { textContent: status + ': ' + (r.description || '') }));
        for (const [type, c] of Object.entries(r.content || {})) if (type.includes('json')) body.append(el('pre', { textContent: type + '\\n' + JSON.stringify(show(c.schema), null, 2) }));
      }
      main.append(el('details', {}, el('summary', {}, el('span', { className: 'm ' + method, textContent: method.toUpperCase() }), path + '  ', el('small', { textContent: op.summary || '' })), body));
    }
  }
})().catch((e) => { document.getElementById('main').textContent = 'Could not load /openapi.json: ' + e; });
</script>
</body>
</html>
`;

export function registerDocs(app: OpenAPIHono<AppEnv>): void {
  app.get('/docs', (c) => {
    c.header(
      'content-security-policy',
      "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
    );
    return c.html(PAGE);
  });
}
