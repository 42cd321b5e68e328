/**
 * The image's HEALTHCHECK: `node dist/cli/healthcheck.js [URL]` exits 0 when URL (default: this
 * container's API, `http://127.0.0.1:$PORT/healthz`) answers 2xx within 4 s, else 1 with one line
 * saying why. Worker containers give their Temporal SDK metrics URL (docker-compose.yml).
 */
const url = process.argv[2] ?? `http://127.0.0.1:${process.env.PORT || '3000'}/healthz`;

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(4000) });
  await response.body?.cancel();
  if (!response.ok) {
    console.error(`healthcheck: ${url} answered ${response.status}`);
    process.exit(1);
  }
} catch (err) {
  console.error(`healthcheck: ${url}: ${(err as Error).message}`);
  process.exit(1);
}
