/**
 * Parts while an export runs: `GET /v1/jobs/{id}/parts` lists the finished parts of a CSV or NDJSON
 * export (gzip too) in order, from the checkpoint the export stores after each part, so a part a retry
 * rewrites is listed once; `GET /v1/jobs/{id}/parts/{index}` serves one. Part 0 starts with the file's
 * prefix (the header), so the parts concatenate to the published file. While the job runs a part is
 * read from the stored parts; once it has succeeded, from the file's byte range.
 */
import { Readable } from 'node:stream';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { EXPORT_CONTENT_TYPES, GZIP_CONTENT_TYPE, type ExportRequest } from '../../shared/jobs.js';
import type { JobRow } from '../../db/jobs-repo.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { HttpProblem, problemResponses, problems } from '../http/problem.js';
import { visibleJob } from '../jobs/visible-job.js';
import { JobIdParam } from './job-schemas.js';

const PartSchema = z
  .object({
    index: z.number().int().min(0),
    rows: z.number().int().min(0),
    bytes: z.number().int().min(0),
    sha256: z.string(),
    /** Where the part starts in the published file. */
    offset: z.number().int().min(0),
    links: z.object({ download: z.string() }),
  })
  .openapi('ExportPart');

const PartsSchema = z
  .object({
    state: z.string(),
    /** Whether every part is listed (the job succeeded): their concatenation is the file. */
    complete: z.boolean(),
    contentType: z.string(),
    items: z.array(PartSchema),
  })
  .openapi('ExportParts');

const PartParams = JobIdParam.extend({
  // Digits only (so no NUL): the pattern is the document's too, which safe() would replace with its own.
  index: z
    .string()
    .regex(/^\d{1,9}$/, 'must be a part index (0, 1, …)')
    .openapi({
      param: { name: 'index', in: 'path' },
      example: '0',
    }),
});

const PART_TYPES = [EXPORT_CONTENT_TYPES.csv, EXPORT_CONTENT_TYPES.ndjson, GZIP_CONTENT_TYPE];

/** The job's parts, or a 409 for a job whose format has none to list. */
function partsOf(job: JobRow) {
  const request = job.request as ExportRequest;
  if (job.kind !== 'export' || (request.format !== 'csv' && request.format !== 'ndjson'))
    throw new HttpProblem(
      409,
      'no-parts',
      'No parts to list',
      'parts are listed for CSV and NDJSON exports only',
    );
  const parts = job.checkpoint?.parts ?? [];
  const contentType =
    request.compression === 'gzip' ? GZIP_CONTENT_TYPE : EXPORT_CONTENT_TYPES[request.format];
  let offset = 0;
  const items = parts.map((p, index) => {
    const item = { index, ...p, offset, links: { download: `/v1/jobs/${job.id}/parts/${index}` } };
    offset += p.bytes;
    return item;
  });
  return { contentType, items, prefix: Buffer.from(job.checkpoint?.partsPrefix ?? '', 'base64') };
}

export function registerPartRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/parts',
      operationId: 'jobs.parts',
      tags: ['jobs'],
      summary: 'The finished parts of a CSV or NDJSON export, in order, while it runs and after',
      security: [{ bearer: [] }],
      request: { params: JobIdParam },
      responses: {
        200: {
          description: 'Finished parts in file order',
          content: { 'application/json': { schema: PartsSchema } },
        },
        ...problemResponses(401, 404, 409, 422),
      },
    }),
    async (c) => {
      const job = await visibleJob(db, c.req.valid('param').id, c.get('principal'));
      const { contentType, items } = partsOf(job);
      return c.json({ state: job.state, complete: job.state === 'succeeded', contentType, items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/jobs/{id}/parts/{index}',
      operationId: 'jobs.part',
      tags: ['jobs'],
      summary: 'One finished part of a CSV or NDJSON export',
      security: [{ bearer: [] }],
      request: { params: PartParams },
      responses: {
        200: {
          description: 'The part’s bytes (part 0 starts with the header)',
          headers: { ETag: { description: 'The part’s sha256, quoted', schema: { type: 'string' } } },
          content: Object.fromEntries(
            PART_TYPES.map((t) => [t, { schema: z.string().openapi({ format: 'binary' }) }]),
          ),
        },
        ...problemResponses(401, 404, 409, 410, 422),
      },
    }),
    async (c) => {
      const { id, index: raw } = c.req.valid('param');
      const job = await visibleJob(db, id, c.get('principal'));
      const { contentType, items, prefix } = partsOf(job);
      const part = items[Number(raw)];
      if (!part) throw problems.notFound(`part ${raw} of job ${id}`);
      let body: Readable;
      if (job.state === 'succeeded' && job.result) {
        body = deps.storage.read(job.result.storageKey, {
          start: part.offset,
          end: part.offset + part.bytes - 1,
        });
      } else if (job.state === 'expired') {
        throw new HttpProblem(410, 'gone', 'The result file no longer exists', 'the file has expired');
      } else {
        const stored = deps.storage.readPart(job.partsId ?? job.id, part.index);
        const lead = part.index === 0 ? prefix : Buffer.alloc(0);
        body = Readable.from(
          (async function* () {
            if (lead.length > 0) yield lead;
            yield* stored;
          })(),
        );
      }
      return new Response(Readable.toWeb(body) as ReadableStream, {
        status: 200,
        headers: {
          'content-type': contentType,
          'content-length': String(part.bytes),
          etag: `"${part.sha256}"`,
          'cache-control': 'private, no-cache',
          'x-content-type-options': 'nosniff',
        },
      });
    },
  );
}
