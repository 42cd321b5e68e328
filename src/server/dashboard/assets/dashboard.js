// offload dashboard: signs in with an API key (sessionStorage, never a URL), submits jobs of every
// registered kind (exports and audio with their own forms, any other kind with a form built from its
// creation body's schema in /openapi.json), lists the caller's jobs with live progress over server-sent events, cancels, retries, downloads.
// Plain browser JavaScript with no dependencies, so the page works offline and needs no build.

const KEY_STORAGE = 'offload.apiKey';
const PAGE_SIZE = 10;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

const $ = (id) => document.getElementById(id);
const state = { me: null, cursor: null, nextCursor: null, watchers: new Map(), jobs: new Map() };

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

async function call(path, init = {}) {
  const headers = { authorization: `Bearer ${apiKey()}`, ...(init.headers || {}) };
  if (init.body && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401 && state.me) signOut('Your key is no longer valid; sign in again.');
  return res;
}

/** A problem+json response as one readable line, naming the failing fields. */
async function problemText(res) {
  try {
    const p = await res.json();
    const fields = (p.errors || []).map((e) => `${e.field}: ${e.reason}`).join('; ');
    return [p.detail || p.title || `HTTP ${res.status}`, fields].filter(Boolean).join(' — ');
  } catch {
    return `HTTP ${res.status}`;
  }
}

// ------------------------------------------------------------------------------------------------
// Sign in / out

async function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  const res = await call('/v1/me');
  if (!res.ok) {
    sessionStorage.removeItem(KEY_STORAGE);
    throw new Error(
      res.status === 401 ? 'That API key is not valid or has been revoked.' : await problemText(res),
    );
  }
  state.me = await res.json();
  $('who').textContent =
    `${state.me.userName} (${state.me.tenantId}${state.me.scope === 'admin' ? ', admin' : ''})`;
  $('signin').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  await Promise.all([loadDatasets(), loadVoices(), loadGenericForms(), loadJobs(null)]);
  if (state.me.scope === 'admin') await loadDeadLetters();
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  for (const ctl of state.watchers.values()) ctl.abort();
  state.watchers.clear();
  state.me = null;
  $('app').hidden = true;
  $('signin').hidden = false;
  $('sign-out').hidden = true;
  $('who').textContent = '';
  $('signin-error').textContent = message || '';
  $('api-key').value = '';
  $('api-key').focus();
}

// ------------------------------------------------------------------------------------------------
// Submit forms

let datasets = [];

async function loadDatasets() {
  if (!$('export-form')) return;
  const res = await call('/v1/datasets');
  if (!res.ok) return;
  const body = await res.json();
  datasets = body.items || [];
  const select = $('export-dataset');
  select.replaceChildren(...datasets.map((d) => new Option(d.title || d.name, d.name)));
  renderDatasetFields();
}

function renderDatasetFields() {
  const ds = datasets.find((d) => d.name === $('export-dataset').value);
  if (!ds) return;
  $('export-format').replaceChildren(...(ds.formats || ['csv']).map((f) => new Option(f.toUpperCase(), f)));
  const fieldset = $('export-columns');
  fieldset.replaceChildren(fieldset.querySelector('legend'));
  for (const col of ds.columns) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'columns';
    box.value = col.name;
    label.append(box, ` ${col.label || col.name}`);
    fieldset.append(label);
  }
  const filters = $('export-filters');
  filters.replaceChildren();
  for (const f of ds.filters || []) {
    for (const bound of f.kind === 'range' ? ['from', 'to'] : [null]) {
      const id = `filter-${f.name}${bound ? `-${bound}` : ''}`;
      const label = document.createElement('label');
      label.htmlFor = id;
      label.textContent = `${f.label || f.name}${bound ? ` ${bound}` : ''}`;
      let input;
      if (f.values || f.type === 'boolean') {
        const values = f.values || ['true', 'false'];
        input = document.createElement('select');
        input.append(new Option('(any)', ''), ...values.map((v) => new Option(v, v)));
      } else {
        input = document.createElement('input');
        input.type =
          f.type === 'date' || f.type === 'timestamp' ? 'date' : f.type === 'number' ? 'number' : 'text';
      }
      input.id = id;
      input.dataset.filter = f.name;
      input.dataset.kind = f.kind;
      input.dataset.type = f.type;
      if (bound) input.dataset.bound = bound;
      filters.append(label, input);
    }
  }
  filters.closest('details').hidden = (ds.filters || []).length === 0;
  estimateSoon();
}

function exportBody() {
  const form = $('export-form');
  const body = { dataset: form.dataset.value, format: form.format.value };
  const columns = [...form.querySelectorAll('input[name=columns]:checked')].map((b) => b.value);
  if (columns.length) body.columns = columns;
  if (form.fileName.value.trim()) body.fileName = form.fileName.value.trim();
  const filters = {};
  for (const input of $('export-filters').querySelectorAll('[data-filter]')) {
    if (!input.value) continue;
    const value = input.type === 'number' ? Number(input.value) : input.value;
    if (input.dataset.bound) (filters[input.dataset.filter] ||= {})[input.dataset.bound] = value;
    // An `eq` or `prefix` filter takes one value (a boolean as true or false).
    else if (input.dataset.kind === 'eq' || input.dataset.kind === 'prefix')
      filters[input.dataset.filter] = input.dataset.type === 'boolean' ? value === 'true' : value;
    // An `in` filter takes a list: one chosen value, or comma-separated values typed in.
    else
      filters[input.dataset.filter] = String(value)
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
  }
  if (Object.keys(filters).length) body.filters = filters;
  return body;
}

/** "about 20,000 rows (counted) · 1.8 MB · 5 s" for an estimate from POST /v1/exports/estimate. */
function estimateText(e) {
  const how = (m) =>
    ({
      exact: 'counted',
      planner: "the database's estimate",
      observed: 'from recent exports',
      guess: 'a first guess',
    })[m] || m;
  return [
    `${e.rows.method === 'exact' ? '' : 'about '}${e.rows.value.toLocaleString()} rows (${how(e.rows.method)})`,
    `about ${sizeText(e.bytes.value)} (${how(e.bytes.method)})`,
    `about ${durationText(e.seconds.value)}`,
  ].join(' · ');
}

let estimateSeq = 0;

/** Estimate the export the form describes, before it is submitted; quiet when the API has no estimate. */
async function estimateExport() {
  const el = $('export-estimate');
  if (!el || !$('export-dataset').value) return;
  const seq = ++estimateSeq;
  el.textContent = 'Estimating…';
  const res = await call('/v1/exports/estimate', { method: 'POST', body: JSON.stringify(exportBody()) });
  if (seq !== estimateSeq) return; // the form changed meanwhile: a later estimate answers
  if (res.status === 404 || res.status === 405) {
    el.textContent = '';
    return;
  }
  el.textContent = res.ok ? `Estimate: ${estimateText(await res.json())}` : await problemText(res);
}

let estimateTimer;
function estimateSoon() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(() => void estimateExport(), 300);
}

async function submit(path, body, messageEl) {
  messageEl.textContent = 'Submitting…';
  const res = await call(path, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) {
    messageEl.textContent = await problemText(res);
    messageEl.className = 'message error';
    return;
  }
  const job = await res.json();
  messageEl.className = 'message';
  messageEl.textContent = `Started ${job.id}.`;
  await loadJobs(null);
}

async function loadVoices() {
  if (!$('audio-form')) return;
  const res = await call('/v1/voices');
  if (!res.ok) {
    $('audio-card').hidden = true;
    return;
  }
  const body = await res.json();
  const voices = body.items || body.voices || body;
  // First the API's own default (no voice sent: the neural English voice where one is installed).
  $('audio-voice').replaceChildren(
    new Option('Default voice', ''),
    ...voices.map((v) => new Option(`${v.name || v.id} (${v.engine})`, v.id)),
  );
  if (body.formats)
    $('audio-format').replaceChildren(...body.formats.map((f) => new Option(f.toUpperCase(), f)));
}

// ------------------------------------------------------------------------------------------------
// Forms of the other job kinds, built from their creation body's JSON Schema

/** Fields every creation body takes; shown under "More options", after the kind's own. */
const COMMON_FIELDS = new Set(['fileName', 'callbackUrl', 'notifyEmail', 'priority']);

let openapi = null;

async function loadGenericForms() {
  const forms = [...document.querySelectorAll('form.generic-form')];
  if (forms.length === 0) return;
  openapi ||= await (await fetch('/openapi.json')).json();
  for (const form of forms)
    renderGenericForm(form, resolveSchema(openapi.components.schemas[form.dataset.schema]));
}

function resolveSchema(schema) {
  let s = schema;
  for (let i = 0; s && s.$ref && i < 10; i++) s = openapi.components.schemas[s.$ref.split('/').pop()];
  if (s && Array.isArray(s.allOf) && s.allOf.length === 1) return resolveSchema(s.allOf[0]);
  return s || {};
}

/** The non-null alternative of a nullable schema (`anyOf: [X, {type: 'null'}]`). */
function nonNull(schema) {
  const alts = schema.anyOf || schema.oneOf;
  if (!alts) return schema;
  const real = alts.map(resolveSchema).filter((a) => a.type !== 'null');
  return real.length === 1 ? real[0] : schema;
}

function fieldLabel(name, schema) {
  return schema.title || name.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());
}

/** One input for one property; data-field and data-codec tell genericBody how to read it back. */
function fieldInput(id, name, schema, required) {
  let input;
  let codec = 'string';
  const items = schema.type === 'array' ? nonNull(resolveSchema(schema.items || {})) : null;
  if (Array.isArray(schema.enum)) {
    input = document.createElement('select');
    if (!required) input.append(new Option('(default)', ''));
    input.append(...schema.enum.map((v) => new Option(String(v), String(v))));
    if (schema.default !== undefined) input.value = String(schema.default);
    codec = schema.enum.every((v) => typeof v === 'number') ? 'number' : 'string';
  } else if (schema.type === 'boolean') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.checked = schema.default === true;
    codec = 'boolean';
  } else if (schema.type === 'integer' || schema.type === 'number') {
    input = document.createElement('input');
    input.type = 'number';
    if (schema.minimum !== undefined) input.min = String(schema.minimum);
    if (schema.maximum !== undefined) input.max = String(schema.maximum);
    input.step = schema.type === 'integer' ? '1' : 'any';
    codec = 'number';
  } else if (schema.type === 'string') {
    const long = !schema.maxLength || schema.maxLength > 200;
    input = document.createElement(long && !schema.format ? 'textarea' : 'input');
    if (input.tagName === 'TEXTAREA') input.rows = 4;
    else input.type = schema.format === 'email' ? 'email' : schema.format === 'uri' ? 'url' : 'text';
    if (schema.maxLength) input.maxLength = schema.maxLength;
  } else if (items && (items.type === 'string' || items.type === 'number' || items.type === 'integer')) {
    input = document.createElement('input');
    input.placeholder = 'comma-separated';
    codec = items.type === 'string' ? 'list' : 'number-list';
  } else {
    input = document.createElement('textarea');
    input.rows = 3;
    input.placeholder = 'JSON';
    codec = 'json';
  }
  input.id = id;
  input.name = name;
  input.dataset.field = name;
  input.dataset.codec = codec;
  if (required && codec !== 'boolean') input.required = true;
  return input;
}

function renderGenericForm(form, schema) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const own = document.createElement('div');
  const more = document.createElement('details');
  more.append(Object.assign(document.createElement('summary'), { textContent: 'More options' }));
  for (const [name, raw] of Object.entries(props)) {
    const field = nonNull(resolveSchema(raw));
    const id = `${form.id}-${name}`;
    const input = fieldInput(id, name, field, required.has(name));
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = `${fieldLabel(name, field)}${required.has(name) ? '' : ' (optional)'}`;
    if (field.description) label.title = field.description;
    const target = COMMON_FIELDS.has(name) ? more : own;
    if (input.type === 'checkbox') {
      label.textContent = ` ${fieldLabel(name, field)}`;
      label.prepend(input);
      target.append(label);
    } else target.append(label, input);
  }
  form.querySelector('.fields').replaceChildren(own, more);
}

/** The body a generic form describes: its filled fields, each read back as its schema's type. */
function genericBody(form) {
  const body = {};
  for (const input of form.querySelectorAll('[data-field]')) {
    const name = input.dataset.field;
    const codec = input.dataset.codec;
    if (codec === 'boolean') {
      body[name] = input.checked;
      continue;
    }
    const text = input.value.trim();
    if (text === '') continue;
    const parts = () =>
      text
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
    if (codec === 'number') body[name] = Number(text);
    else if (codec === 'list') body[name] = parts();
    else if (codec === 'number-list') body[name] = parts().map(Number);
    else if (codec === 'json') {
      try {
        body[name] = JSON.parse(text);
      } catch {
        throw new Error(`${fieldLabel(name, {})}: not valid JSON`);
      }
    } else body[name] = input.value;
  }
  return body;
}

// ------------------------------------------------------------------------------------------------
// Jobs table with live progress

function describe(job) {
  const r = job.request || {};
  if (job.kind === 'export') return `Export ${r.dataset} as ${String(r.format).toUpperCase()}`;
  if (job.kind === 'audio') {
    // Jobs show the text by its length (`characters`), never the text itself.
    const chars = r.characters ?? String(r.text || '').length;
    return `Audio (${String(r.format || '').toUpperCase()}, ${chars.toLocaleString()} characters)`;
  }
  return job.kind;
}

/** 1234567 -> "1.2 MB". */
function sizeText(bytes) {
  if (typeof bytes !== 'number') return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[u]}`;
}

/** 95 -> "1 min 35 s". */
function durationText(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function progressText(job) {
  const p = job.progress || {};
  if (job.state === 'succeeded') {
    const size = sizeText(job.result && job.result.bytes);
    return size ? `done · ${size}` : 'done';
  }
  if (TERMINAL.has(job.state)) return (job.error && job.error.message) || job.state;
  const eta = p.etaSeconds == null ? '' : ` · ETA ${durationText(p.etaSeconds)}`;
  return `${p.percent ?? 0}%${eta}`;
}

function button(label, onClick, job) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = 'secondary';
  b.setAttribute('aria-label', `${label} ${job.id}`);
  b.addEventListener('click', () => onClick(job, b));
  return b;
}

function cell(label, ...children) {
  const td = document.createElement('td');
  td.dataset.label = label;
  td.append(...children);
  return td;
}

function renderRow(job) {
  state.jobs.set(job.id, job);
  const tr = document.createElement('tr');
  tr.id = `job-${job.id}`;
  tr.dataset.state = job.state;

  const title = document.createElement('div');
  title.textContent = describe(job);
  const id = document.createElement('div');
  id.className = 'job-id';
  id.textContent = job.id;

  const badge = document.createElement('span');
  badge.className = `badge ${job.state}`;
  badge.textContent = job.state;

  const bar = document.createElement('progress');
  bar.max = 100;
  bar.value = job.state === 'succeeded' ? 100 : (job.progress && job.progress.percent) || 0;
  bar.setAttribute('aria-label', `Progress of ${job.id}`);
  const text = document.createElement('div');
  text.className = 'eta';
  text.setAttribute('aria-live', 'polite');
  text.textContent = progressText(job);

  const created = document.createElement('time');
  created.dateTime = job.createdAt;
  created.textContent = new Date(job.createdAt).toLocaleString();

  const actions = document.createElement('div');
  actions.className = 'actions';
  if (!TERMINAL.has(job.state)) actions.append(button('Cancel', cancelJob, job));
  if (job.state === 'failed' || job.state === 'cancelled') actions.append(button('Retry', retryJob, job));
  if (job.state === 'succeeded') actions.append(button('Download', downloadJob, job));
  if (job.state === 'succeeded' && job.kind === 'audio') actions.append(button('Play', playJob, job));

  tr.append(
    cell('Job', title, id),
    cell('State', badge),
    cell('Progress', bar, text),
    cell('Created', created),
    cell('Actions', actions),
  );
  return tr;
}

function updateRow(job) {
  const old = document.getElementById(`job-${job.id}`);
  if (old) old.replaceWith(renderRow(job));
  if (TERMINAL.has(job.state)) {
    state.watchers.get(job.id)?.abort();
    state.watchers.delete(job.id);
  }
}

function pageOf(body) {
  const items = body.items || body.data || body.jobs || [];
  let next = body.nextCursor || null;
  if (!next && typeof body.next === 'string')
    next = new URL(body.next, location.href).searchParams.get('cursor');
  return { items, next };
}

async function loadJobs(cursor) {
  const qs = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) qs.set('cursor', cursor);
  const res = await call(`/v1/jobs?${qs}`);
  if (!res.ok) return;
  const { items, next } = pageOf(await res.json());
  for (const ctl of state.watchers.values()) ctl.abort();
  state.watchers.clear();
  state.cursor = cursor;
  state.nextCursor = next;
  $('jobs').tBodies[0].replaceChildren(...items.map(renderRow));
  $('jobs-empty').hidden = items.length > 0;
  $('first-page').disabled = !cursor;
  $('next-page').disabled = !next;
  for (const job of items) if (!TERMINAL.has(job.state)) watch(job.id);
}

/** Follow one job's server-sent events with fetch (EventSource cannot send the Authorization header). */
function watch(jobId) {
  const ctl = new AbortController();
  state.watchers.set(jobId, ctl);
  let lastEventId = null;
  const connect = async () => {
    while (!ctl.signal.aborted) {
      try {
        const headers = { accept: 'text/event-stream' };
        if (lastEventId) headers['last-event-id'] = lastEventId;
        const res = await call(`/v1/jobs/${jobId}/events`, { headers, signal: ctl.signal });
        if (!res.ok || !res.body) return;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let at;
          while ((at = buffer.indexOf('\n\n')) !== -1) {
            const raw = buffer.slice(0, at);
            buffer = buffer.slice(at + 2);
            const event = { type: 'message', data: '' };
            for (const line of raw.split('\n')) {
              if (line.startsWith(':')) continue;
              const [field, ...rest] = line.split(':');
              const v = rest.join(':').replace(/^ /, '');
              if (field === 'event') event.type = v;
              else if (field === 'data') event.data += v;
              else if (field === 'id') lastEventId = v;
            }
            if (event.data) onEvent(jobId, event);
          }
        }
        const job = state.jobs.get(jobId);
        if (!job || TERMINAL.has(job.state)) return;
      } catch {
        if (ctl.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void connect();
}

function onEvent(jobId, event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  const job = { ...state.jobs.get(jobId) };
  if (data.progress) Object.assign(job, data);
  else if ('percent' in data) job.progress = data;
  if (data.state) job.state = data.state;
  if (TERMINAL.has(job.state) && !job.result && !job.error) {
    // The final event carries the state; fetch the job once for its result or error.
    void call(`/v1/jobs/${jobId}`).then(async (res) => res.ok && updateRow(await res.json()));
  }
  updateRow(job);
}

async function cancelJob(job, btn) {
  btn.disabled = true;
  const res = await call(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
  if (!res.ok && res.status !== 409) alert(await problemText(res));
  const fresh = await call(`/v1/jobs/${job.id}`);
  if (fresh.ok) updateRow(await fresh.json());
}

async function retryJob(job, btn) {
  btn.disabled = true;
  const res = await call(`/v1/jobs/${job.id}/retry`, { method: 'POST' });
  if (!res.ok) {
    alert(await problemText(res));
    btn.disabled = false;
    return;
  }
  await loadJobs(null);
}

async function downloadJob(job, btn) {
  btn.disabled = true;
  try {
    const res = await call(`/v1/jobs/${job.id}/download`);
    if (!res.ok) {
      alert(await problemText(res));
      return;
    }
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = (job.result && job.result.fileName) || job.id;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } finally {
    btn.disabled = false;
  }
}

/** A job's file (or another of its links) as a blob URL: media elements cannot send the API key. */
async function blobUrl(path) {
  const res = await call(path);
  if (!res.ok) throw new Error(await problemText(res));
  return URL.createObjectURL(await res.blob());
}

/** Captions of a finished audio job, when its result lists them: the link to the WebVTT file. */
function captionsLink(job) {
  const artifacts = (job.result && job.result.artifacts) || [];
  const vtt = artifacts.find((a) => a.name === 'captions' || /^text\/vtt\b/.test(a.contentType || ''));
  return vtt && vtt.href ? vtt.href : null;
}

async function playJob(job, btn) {
  btn.disabled = true;
  const player = $('player');
  try {
    for (const url of state.playerUrls || []) URL.revokeObjectURL(url);
    state.playerUrls = [];
    player.replaceChildren();
    const audio = await blobUrl(`/v1/jobs/${job.id}/download`);
    state.playerUrls.push(audio);
    const captions = captionsLink(job);
    if (captions) {
      const track = document.createElement('track');
      track.kind = 'captions';
      track.label = 'Captions';
      track.srclang = (job.request && job.request.language) || 'en';
      track.default = true;
      track.src = await blobUrl(captions);
      state.playerUrls.push(track.src);
      player.append(track);
    }
    player.src = audio;
    $('player-job').textContent = `${describe(job)} · ${job.id}`;
    $('player-card').hidden = false;
    void player.play().catch(() => undefined); // autoplay may be refused; the controls are there
  } catch (err) {
    alert(err.message);
  } finally {
    btn.disabled = false;
  }
}

async function loadDeadLetters() {
  const res = await call('/v1/dead-letters?limit=20');
  if (!res.ok) return;
  const { items } = pageOf(await res.json());
  $('dead-letters').hidden = false;
  $('dead').tBodies[0].replaceChildren(
    ...items.map((job) => {
      const tr = document.createElement('tr');
      const id = document.createElement('span');
      id.className = 'job-id';
      id.textContent = job.id;
      const actions = document.createElement('div');
      actions.className = 'actions';
      actions.append(button('Retry', retryJob, job));
      tr.append(
        cell('Job', id),
        cell('User', job.userId || ''),
        cell('Error', `${job.error ? `${job.error.type}: ${job.error.message}` : ''}`),
        cell('Attempts', String(job.attempts ?? '')),
        cell('Actions', actions),
      );
      return tr;
    }),
  );
}

// ------------------------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('signin-error').textContent = '';
    signIn($('api-key').value.trim()).catch((err) => {
      $('signin-error').textContent = err.message;
    });
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('export-dataset')?.addEventListener('change', renderDatasetFields);
  // Any other change of the export form (format, columns, filters) updates the estimate.
  $('export-form')?.addEventListener('change', (e) => e.target.id !== 'export-dataset' && estimateSoon());
  $('export-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    // getAttribute: the form's `dataset` property is its <select name="dataset">.
    void submit(e.target.getAttribute('data-path'), exportBody(), $('export-message'));
  });
  $('audio-form')?.addEventListener('submit', (e) => {
    e.preventDefault();
    const form = e.target;
    void submit(
      form.getAttribute('data-path'),
      { text: form.text.value, voice: form.voice.value || undefined, format: form.format.value },
      $('audio-message'),
    );
  });
  for (const form of document.querySelectorAll('form.generic-form')) {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const message = form.querySelector('.message');
      let body;
      try {
        body = genericBody(form);
      } catch (err) {
        message.textContent = err.message;
        message.className = 'message error';
        return;
      }
      void submit(form.getAttribute('data-path'), body, message);
    });
  }
  $('refresh').addEventListener('click', () => void loadJobs(state.cursor));
  $('first-page').addEventListener('click', () => void loadJobs(null));
  $('next-page').addEventListener('click', () => void loadJobs(state.nextCursor));
  if (apiKey()) signIn(apiKey()).catch(() => signOut());
});
