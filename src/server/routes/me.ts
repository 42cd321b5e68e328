/** Who the caller is, and what the dashboard can offer them: `GET /v1/me`, `GET /v1/datasets`. */
import { createRoute, z } from '@hono/zod-openapi';
import { datasets } from '../../datasets/registry.js';
import { EXPORT_FORMATS } from '../../shared/jobs.js';
import type { AppRouter } from '../http/context.js';
import { problemResponses } from '../http/problem.js';

const MeSchema = z
  .object({
    userId: z.string(),
    userName: z.string(),
    tenantId: z.string(),
    scope: z.enum(['user', 'admin']),
    keyId: z.string(),
  })
  .openapi('Me');

const DatasetSchema = z
  .object({
    name: z.string(),
    title: z.string(),
    formats: z.array(z.string()),
    columns: z.array(z.object({ name: z.string(), label: z.string(), type: z.string() })),
    filters: z.array(
      z.object({
        name: z.string(),
        label: z.string(),
        kind: z.enum(['range', 'in', 'eq', 'prefix']),
        type: z.string(),
        values: z.array(z.string()).optional(),
      }),
    ),
    sorts: z.array(z.string()),
    defaultSort: z.object({ column: z.string(), direction: z.enum(['asc', 'desc']) }).optional(),
    key: z.array(z.string()),
    global: z.boolean(),
    maxRows: z.number().optional(),
  })
  .openapi('Dataset');

export function registerMeRoutes(app: AppRouter): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/me',
      summary: 'The caller: user, tenant and key scope',
      security: [{ bearer: [] }],
      responses: {
        200: {
          description: 'The authenticated caller',
          content: { 'application/json': { schema: MeSchema } },
        },
        ...problemResponses(401),
      },
    }),
    (c) => {
      const p = c.get('principal');
      return c.json(
        { userId: p.userId, userName: p.userName, tenantId: p.tenantId, scope: p.scope, keyId: p.keyId },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/datasets',
      summary: 'Exportable datasets and their columns',
      security: [{ bearer: [] }],
      responses: {
        200: {
          description:
            'Every dataset of the datasets file this key may export (global ones: admin keys only)',
          content: { 'application/json': { schema: z.object({ items: z.array(DatasetSchema) }) } },
        },
        ...problemResponses(401),
      },
    }),
    (c) => {
      const admin = c.get('principal').scope === 'admin';
      return c.json(
        {
          items: Object.values(datasets())
            .filter((d) => admin || d.tenantColumn !== null)
            .map((d) => ({
              name: d.name,
              title: d.title,
              formats: [...EXPORT_FORMATS],
              columns: d.columns.map((col) => ({ name: col.name, label: col.label, type: col.type })),
              filters: d.filters.map((f) => ({
                name: f.name,
                label: d.columns.find((col) => col.name === f.name)?.label ?? f.name,
                kind: f.kind,
                type: f.type,
                ...(f.values ? { values: [...f.values] } : {}),
              })),
              sorts: d.sorts,
              ...(d.defaultSort ? { defaultSort: d.defaultSort } : {}),
              key: d.key,
              global: d.tenantColumn === null,
              ...(d.maxRows !== undefined ? { maxRows: d.maxRows } : {}),
            })),
        },
        200,
      );
    },
  );
}
