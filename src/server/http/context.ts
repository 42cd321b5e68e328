/** The Hono context of the API: what authentication puts on every /v1 request (the caller's principal). */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Principal } from '../../db/users-repo.js';

export interface AppEnv {
  Variables: { principal: Principal };
}

export type AppRouter = OpenAPIHono<AppEnv>;
