/** The app-wide 405: only for a method the path has no route for, never for a route that answered 404. */
import { OpenAPIHono } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/server/http/context.js';
import { methodNotAllowed } from '../../src/server/http/routes-contract.js';

function app(): OpenAPIHono<AppEnv> {
  const a = new OpenAPIHono<AppEnv>();
  const notAllowed = methodNotAllowed(a);
  a.notFound((c) => {
    const problem = notAllowed(c);
    return problem ? c.json({ status: problem.status }, 405, problem.headers) : c.json({ status: 404 }, 404);
  });
  a.get('/things/:id', (c) => (c.req.param('id') === 'known' ? c.text('thing') : c.notFound()));
  a.post('/things', (c) => c.text('made', 201));
  return a;
}

describe('methodNotAllowed', () => {
  it('answers 405 with Allow for a method the path has no route for', async () => {
    const res = await app().request('/things/known', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    const post = await app().request('/things', { method: 'GET' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('POST');
  });

  it('leaves a 404 from a route that takes the method as a 404, for GET and for HEAD', async () => {
    expect((await app().request('/things/known')).status).toBe(200);
    expect((await app().request('/things/missing')).status).toBe(404);
    expect((await app().request('/things/missing', { method: 'HEAD' })).status).toBe(404);
  });

  it('answers 404 for a path no route has', async () => {
    expect((await app().request('/nothing', { method: 'DELETE' })).status).toBe(404);
  });
});
