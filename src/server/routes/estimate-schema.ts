/** The answer of `POST /v1/exports/estimate`, also the job view's `request.estimate` (src/kinds/export.ts). */
import { z } from '@hono/zod-openapi';

export const EstimateSchema = z
  .object({
    rows: z.object({
      value: z.number().int().min(0),
      method: z
        .enum(['exact', 'planner'])
        .openapi({ description: '`exact`: counted; `planner`: PostgreSQL’s estimate' }),
    }),
    bytes: z.object({
      value: z.number().int().min(0),
      method: z
        .enum(['observed', 'guess'])
        .openapi({ description: '`observed`: bytes per row of recent exports of this dataset and format' }),
    }),
    seconds: z.object({
      value: z.number().min(0),
      method: z
        .enum(['observed', 'guess'])
        .openapi({ description: '`observed`: rows per second of recent exports of this dataset and format' }),
    }),
  })
  .openapi('ExportEstimate');
