/**
 * Result files: `GET /v1/jobs/{id}/download` with the API key, and signed links `GET /files/{id}` that
 * work without one (for e-mail and webhook recipients). Both support Range, ETag/If-None-Match and a
 * safe Content-Disposition, and answer 410 once the file has expired.
 */
import { Readable } from 'node:stream';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { getJob, type JobRow } from '../../db/jobs-repo.js';
import { sharedSecret } from '../../db/secrets-repo.js';
import { jobKinds } from '../../kinds/index.js';
import { isJobId } from '../../lib/ids.js';
import { checkDownloadSignature, DOWNLOAD_SECRET, signedDownloadPath } from '../../lib/signed-links.js';
import type { AppDeps } from '../deps.js';
import { contentDisposition } from '../http/content-disposition.js';
import type { AppEnv } from '../http/context.js';
import { HttpProblem, problemResponses, problems } from '../http/problem.js';
import { parseRange } from '../http/range.js';
import { safe } from '../http/safe-text.js';
import { visibleJob } from '../jobs/visible-job.js';
import { JobIdParam } from './job-schemas.js';

/** Each kind's result Content-Types (media type only: `text/csv; charset=utf-8` is `text/csv`). */
const fileContent = () =>
  Object.fromEntries(
    [...new Set(jobKinds.list().flatMap((k) => k.view.contentTypes))].map((type) => [
      type.split(';')[0]!.trim(),
      { schema: z.string().openapi({ format: 'binary' }) },
    ]),
  );

const header = (description: string, required = true) => ({
  description,
  required,
  schema: { type: 'string' as const },
});

const fileHeaders = {
  ETag: header('The sha256 of the file, quoted'),
  'Content-Disposition': header('`attachment` with the file name (RFC 6266, UTF-8 `filename*`)'),
  'Accept-Ranges': header('`bytes`'),
  'Cache-Control': header('`private, no-cache`'),
};

const fileResponses = () => ({
  200: { description: 'The file, with its own Content-Type', headers: fileHeaders, content: fileContent() },
  206: {
    description: 'The requested byte range',
    headers: { ...fileHeaders, 'Content-Range': header('`bytes <start>-<end>/<size>`') },
    content: fileContent(),
  },
  304: { description: 'Not modified (If-None-Match matched the ETag)', headers: fileHeaders },
});

const RangeHeaders = z.object({
  range: safe(z.string().max(200))
    .optional()
    .openapi({ param: { name: 'range', in: 'header' }, example: 'bytes=0-1023' }),
  'if-none-match': safe(z.string().max(500))
    .optional()
    .openapi({ param: { name: 'if-none-match', in: 'header' } }),
  'if-range': safe(z.string().max(500))
    .optional()
    .openapi({ param: { name: 'if-range', in: 'header' } }),
});

const downloadRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/download',
  operationId: 'jobs.download',
  tags: ['downloads'],
  summary: 'The result file',
  security: [{ bearer: [] }],
  request: { params: JobIdParam, headers: RangeHeaders },
  responses: { ...fileResponses(), ...problemResponses(401, 404, 409, 410, 416) },
});

const linkRoute = createRoute({
  method: 'post',
  path: '/v1/jobs/{id}/download-link',
  operationId: 'jobs.downloadLink',
  tags: ['downloads'],
  summary: 'A signed download link that works without an API key until it expires',
  security: [{ bearer: [] }],
  request: { params: JobIdParam },
  responses: {
    200: {
      description: 'The link',
      content: {
        'application/json': {
          schema: z.object({ url: z.string(), expiresAt: z.string() }).openapi('DownloadLink'),
        },
      },
    },
    ...problemResponses(401, 404, 409),
  },
});

const signedRoute = createRoute({
  method: 'get',
  path: '/files/{id}',
  operationId: 'files.get',
  tags: ['downloads'],
  summary: 'The result file through a signed link (no API key); a tampered or expired link is 403',
  request: {
    params: JobIdParam,
    query: z.object({
      expires: safe(z.string().max(20))
        .optional()
        .openapi({ param: { name: 'expires', in: 'query' } }),
      signature: safe(z.string().max(200))
        .optional()
        .openapi({ param: { name: 'signature', in: 'query' } }),
    }),
    headers: RangeHeaders,
  },
  responses: { ...fileResponses(), ...problemResponses(403, 404, 409, 410, 416) },
});

export function registerDownloadRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db } = deps.database;

  function requireResult(job: JobRow) {
    if (job.state === 'expired')
      throw new HttpProblem(410, 'gone', 'The result file no longer exists', 'the file has expired');
    if (job.state !== 'succeeded' || !job.result) {
      throw new HttpProblem(409, 'not-ready', 'The result is not available', `the job is ${job.state}`, {
        state: job.state,
      });
    }
    return job.result;
  }

  async function serve(c: Context, job: JobRow): Promise<Response> {
    const result = requireResult(job);
    const info = await deps.storage.stat(result.storageKey);
    if (!info) throw new HttpProblem(410, 'gone', 'The result file no longer exists', 'the file has expired');
    const etag = `"${result.sha256}"`;
    const headers: Record<string, string> = {
      'content-type': result.contentType,
      'content-disposition': contentDisposition(result.fileName),
      etag,
      'accept-ranges': 'bytes',
      'cache-control': 'private, no-cache',
      'x-content-type-options': 'nosniff',
    };
    const inm = c.req.header('if-none-match');
    if (inm && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
      return new Response(null, { status: 304, headers });
    }
    const ifRange = c.req.header('if-range');
    const range =
      ifRange !== undefined && ifRange !== etag
        ? { kind: 'none' as const }
        : parseRange(c.req.header('range'), info.size);
    if (range.kind === 'unsatisfiable') {
      throw new HttpProblem(
        416,
        'range-not-satisfiable',
        'Range Not Satisfiable',
        `the file has ${info.size} bytes`,
        {},
        {
          'content-range': `bytes */${info.size}`,
        },
      );
    }
    if (range.kind === 'range') {
      const body = Readable.toWeb(deps.storage.read(result.storageKey, range)) as ReadableStream<Uint8Array>;
      return new Response(body, {
        status: 206,
        headers: {
          ...headers,
          'content-range': `bytes ${range.start}-${range.end}/${info.size}`,
          'content-length': String(range.end - range.start + 1),
        },
      });
    }
    const body = Readable.toWeb(deps.storage.read(result.storageKey)) as ReadableStream<Uint8Array>;
    return new Response(body, { status: 200, headers: { ...headers, 'content-length': String(info.size) } });
  }

  app.openapi(downloadRoute, async (c) => {
    const job = await visibleJob(db, c.req.valid('param').id, c.get('principal'));
    return await serve(c, job);
  });

  app.openapi(linkRoute, async (c) => {
    const job = await visibleJob(db, c.req.valid('param').id, c.get('principal'));
    requireResult(job);
    const expires = Math.floor(Date.now() / 1000) + deps.config.DOWNLOAD_LINK_TTL_SECONDS;
    const secret = await sharedSecret(db, DOWNLOAD_SECRET);
    const base = deps.config.PUBLIC_URL?.replace(/\/$/, '') ?? new URL(c.req.url).origin;
    return c.json(
      {
        url: base + signedDownloadPath(secret, job.id, expires),
        expiresAt: new Date(expires * 1000).toISOString(),
      },
      200,
    );
  });

  app.openapi(signedRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { expires, signature } = c.req.valid('query');
    const secret = await sharedSecret(db, DOWNLOAD_SECRET);
    const check = isJobId(id) ? checkDownloadSignature(secret, id, expires, signature) : 'invalid';
    if (check !== 'ok') {
      throw new HttpProblem(
        403,
        check === 'expired' ? 'link-expired' : 'link-invalid',
        'Forbidden',
        check === 'expired'
          ? 'this download link has expired; ask for a new one'
          : 'this download link is not valid',
      );
    }
    const job = await getJob(db, id);
    if (!job) throw problems.notFound(`job ${id}`);
    return await serve(c, job);
  });
}
