/** Hono context typing shared by the routes. */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Principal } from '../db/users-repo.js';

export interface AppEnv {
  Variables: { principal: Principal };
}

export type AppRouter = OpenAPIHono<AppEnv>;
