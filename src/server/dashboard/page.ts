/**
 * The dashboard's HTML shell, rendered on the server. The page holds no data and no key: the script
 * (assets/dashboard.js) signs in with an API key kept in sessionStorage and talks to /v1 with it.
 * One card per registered job kind (src/kinds), in the registry's order: export and audio have their
 * own forms, any other kind a form the script builds from its creation body's OpenAPI schema.
 */
import { html } from 'hono/html';

/** What the page needs of a job kind: its creation route and body schema, and its dashboard entry. */
export interface DashboardKind {
  name: string;
  path: string;
  schemaName: string;
  title: string;
  submitLabel: string;
  form: 'generic' | 'export' | 'audio';
}

function exportCard(kind: DashboardKind) {
  return html`<section aria-labelledby="export-title" class="card">
    <h2 id="export-title">${kind.title}</h2>
    <form id="export-form" data-path="${kind.path}">
      <label for="export-dataset">Dataset</label>
      <select id="export-dataset" name="dataset" required></select>
      <label for="export-format">Format</label>
      <select id="export-format" name="format" required></select>
      <fieldset id="export-columns">
        <legend>Columns (none checked: all)</legend>
      </fieldset>
      <details>
        <summary>Filters</summary>
        <div id="export-filters"></div>
      </details>
      <label for="export-filename">File name (optional)</label>
      <input id="export-filename" name="fileName" maxlength="200" />
      <p id="export-estimate" class="hint" aria-live="polite"></p>
      <button type="submit">${kind.submitLabel}</button>
      <p id="export-message" class="message" role="status"></p>
    </form>
  </section>`;
}

function audioCard(kind: DashboardKind) {
  return html`<section aria-labelledby="audio-title" class="card" id="audio-card">
    <h2 id="audio-title">${kind.title}</h2>
    <form id="audio-form" data-path="${kind.path}">
      <label for="audio-text">Text</label>
      <textarea id="audio-text" name="text" rows="5" required></textarea>
      <label for="audio-voice">Voice</label>
      <select id="audio-voice" name="voice"></select>
      <label for="audio-format">Format</label>
      <select id="audio-format" name="format">
        <option value="mp3">MP3</option>
        <option value="wav">WAV</option>
        <option value="ogg">Ogg/Opus</option>
      </select>
      <button type="submit">${kind.submitLabel}</button>
      <p id="audio-message" class="message" role="status"></p>
    </form>
  </section>`;
}

/** An empty form: the script fills its fields from the body schema named in data-schema. */
function genericCard(kind: DashboardKind) {
  const id = `kind-${kind.name}`;
  return html`<section aria-labelledby="${id}-title" class="card" id="${id}-card">
    <h2 id="${id}-title">${kind.title}</h2>
    <form
      id="${id}-form"
      class="generic-form"
      data-kind="${kind.name}"
      data-path="${kind.path}"
      data-schema="${kind.schemaName}"
    >
      <div class="fields"></div>
      <button type="submit">${kind.submitLabel}</button>
      <p class="message" role="status"></p>
    </form>
  </section>`;
}

function kindCard(kind: DashboardKind) {
  if (kind.form === 'export') return exportCard(kind);
  if (kind.form === 'audio') return audioCard(kind);
  return genericCard(kind);
}

export function dashboardPage(assetVersion: string, kinds: readonly DashboardKind[]) {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>offload</title>
        <link rel="stylesheet" href="/assets/dashboard.css?v=${assetVersion}" />
        <script type="module" src="/assets/dashboard.js?v=${assetVersion}"></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="bar">
          <h1>offload</h1>
          <p id="who" aria-live="polite"></p>
          <button id="sign-out" type="button" hidden>Sign out</button>
        </header>
        <main id="main">
          <section id="signin" aria-labelledby="signin-title" class="card narrow">
            <h2 id="signin-title">Sign in</h2>
            <form id="signin-form">
              <label for="api-key">API key</label>
              <input id="api-key" name="key" type="password" autocomplete="off" spellcheck="false" required />
              <p class="hint">Kept in this tab's session storage only; never sent in a URL.</p>
              <button type="submit">Sign in</button>
              <p id="signin-error" class="error" role="alert"></p>
            </form>
          </section>

          <div id="app" hidden>
            <div class="grid">${kinds.map(kindCard)}</div>

            <section aria-labelledby="jobs-title" class="card">
              <div class="row">
                <h2 id="jobs-title">Your jobs</h2>
                <button id="refresh" type="button">Refresh</button>
              </div>
              <table id="jobs">
                <caption class="visually-hidden">
                  Your jobs, newest first, with live progress
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Job</th>
                    <th scope="col">State</th>
                    <th scope="col">Progress</th>
                    <th scope="col">Created</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody></tbody>
              </table>
              <p id="jobs-empty" hidden>No jobs yet.</p>
              <nav class="pager" aria-label="Job pages">
                <button id="first-page" type="button" disabled>Newest</button>
                <button id="next-page" type="button" disabled>Older</button>
              </nav>
            </section>

            <section aria-labelledby="player-title" class="card" id="player-card" hidden>
              <h2 id="player-title">Listen</h2>
              <audio id="player" controls aria-label="Audio player"></audio>
              <p id="player-job" class="job-id"></p>
            </section>

            <section aria-labelledby="dead-title" class="card" id="dead-letters" hidden>
              <h2 id="dead-title">Dead letters (all users)</h2>
              <table id="dead">
                <thead>
                  <tr>
                    <th scope="col">Job</th>
                    <th scope="col">User</th>
                    <th scope="col">Error</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody></tbody>
              </table>
            </section>
          </div>
        </main>
      </body>
    </html>`;
}
