/**
 * GET /v1/jobs/{id}/captions: an audio job's WebVTT captions, the second artifact beside its audio
 * (a route of the `audio` kind, src/kinds/audio.ts). 409 until the job has succeeded, 410 once expired,
 * 404 for a job without captions (another kind, or audio made before captions existed).
 */
import { Readable } from 'node:stream';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { CAPTIONS_CONTENT_TYPE, type AudioResult } from '../../shared/jobs.js';
import type { AppDeps } from '../deps.js';
import { contentDisposition } from '../http/content-disposition.js';
import type { AppEnv } from '../http/context.js';
import { HttpProblem, problemResponses } from '../http/problem.js';
import { safe } from '../http/safe-text.js';
import { visibleJob } from '../jobs/visible-job.js';

// As job-schemas.ts's JobIdParam, which this module cannot import: job-schemas reads the kinds, and the
// audio kind registers this route.
const JobIdParam = z.object({
  id: safe(z.string()).openapi({
    param: { name: 'id', in: 'path' },
    example: 'job_01jd3v7k8m9n0p1q2r3s4t5v6w',
  }),
});

const captionsRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/captions',
  operationId: 'jobs.captions',
  tags: ['audio'],
  summary: "An audio job's WebVTT captions (one cue per sentence, timed from the audio)",
  security: [{ bearer: [] }],
  request: { params: JobIdParam },
  responses: {
    200: {
      description: 'The captions',
      headers: {
        'Content-Disposition': { description: '`attachment` with the file name', schema: { type: 'string' } },
      },
      content: { 'text/vtt': { schema: z.string() } },
    },
    ...problemResponses(401, 404, 409, 410),
  },
});

export function registerCaptionsRoute(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  app.openapi(captionsRoute, async (c) => {
    const job = await visibleJob(deps.database.db, c.req.valid('param').id, c.get('principal'));
    const gone = () => new HttpProblem(410, 'gone', 'The captions no longer exist', 'the job has expired');
    if (job.state === 'expired') throw gone();
    if (job.state !== 'succeeded' || !job.result) {
      throw new HttpProblem(409, 'not-ready', 'The captions are not available', `the job is ${job.state}`, {
        state: job.state,
      });
    }
    const result = job.result as AudioResult;
    const artifact = result.artifacts?.find((a) => a.name === 'captions');
    if (job.kind !== 'audio' || !result.captionsKey || !artifact) {
      throw new HttpProblem(404, 'not-found', 'No captions', 'this job has no captions');
    }
    const info = await deps.storage.stat(result.captionsKey);
    if (!info) throw gone();
    const body = Readable.toWeb(deps.storage.read(result.captionsKey)) as ReadableStream<Uint8Array>;
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': CAPTIONS_CONTENT_TYPE,
        'content-disposition': contentDisposition(artifact.fileName),
        'content-length': String(info.size),
        'cache-control': 'private, no-cache',
        'x-content-type-options': 'nosniff',
      },
    });
  });
}
