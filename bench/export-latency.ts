/**
 * Time from POST /v1/exports to a downloaded file, against a running offload (`npm run dev`).
 * Usage: tsx bench/export-latency.ts [--key KEY] [--url URL] [--runs 5] [--body JSON]
 * (`--body` is the POST body; default the whole demo `orders` dataset as CSV).
 * Defaults come from .data/dev.json. Prints one line per run and the median.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    key: { type: 'string' },
    url: { type: 'string' },
    runs: { type: 'string', default: '5' },
    body: { type: 'string', default: JSON.stringify({ dataset: 'orders', format: 'csv' }) },
  },
});
const dev = fs.existsSync('.data/dev.json')
  ? (JSON.parse(fs.readFileSync('.data/dev.json', 'utf8')) as { apiUrl: string; apiKey: string })
  : undefined;
const base = values.url ?? dev?.apiUrl;
const key = values.key ?? dev?.apiKey;
if (!base || !key) throw new Error('give --url and --key, or run `npm run dev` first');
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

async function once(): Promise<{ ms: number; rows: number; bytes: number }> {
  const started = performance.now();
  const res = await fetch(`${base}/v1/exports`, {
    method: 'POST',
    headers,
    body: values.body,
  });
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  for (;;) {
    const job = (await (await fetch(`${base}/v1/jobs/${id}`, { headers })).json()) as {
      state: string;
      result: { rows: number } | null;
    };
    if (job.state === 'succeeded') {
      const file = await (await fetch(`${base}/v1/jobs/${id}/download`, { headers })).arrayBuffer();
      return { ms: performance.now() - started, rows: job.result?.rows ?? 0, bytes: file.byteLength };
    }
    if (job.state !== 'queued' && job.state !== 'running') throw new Error(`job ${id} ended ${job.state}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const times: number[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  const r = await once();
  times.push(r.ms);
  console.log(`run ${i + 1}: ${r.rows} rows, ${r.bytes} bytes, ${r.ms.toFixed(0)} ms POST→downloaded`);
}
times.sort((a, b) => a - b);
console.log(`median ${times[Math.floor(times.length / 2)]!.toFixed(0)} ms over ${times.length} runs`);
