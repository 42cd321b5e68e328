/** Notification settings (default webhook, signing secret) and each job's delivery log. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { listDeliveries } from '../../db/deliveries-repo.js';
import { notifySettings, rotateWebhookSecret, setDefaultWebhook } from '../../db/notify-settings-repo.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { problemResponses } from '../http/problem.js';
import { notifyFields } from '../jobs/notify-fields.js';
import { visibleJob } from '../jobs/visible-job.js';
import { JobIdParam } from './job-schemas.js';

const DeliverySchema = z
  .object({
    channel: z.enum(['webhook', 'email']),
    eventId: z.string(),
    eventType: z.string(),
    target: z.string(),
    attempt: z.number(),
    ok: z.boolean(),
    statusCode: z.number().nullable(),
    error: z.string().nullable(),
    durationMs: z.number().nullable(),
    at: z.string(),
  })
  .openapi('Delivery');

const SettingsSchema = z
  .object({
    webhookUrl: z.string().nullable(),
    webhookSecret: z
      .string()
      .openapi({ description: 'Standard Webhooks secret (`whsec_…`) that signs your webhooks' }),
  })
  .openapi('NotificationSettings');

const deliveriesRoute = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/deliveries',
  operationId: 'jobs.deliveries',
  tags: ['notifications'],
  summary: 'Every attempt to deliver a webhook or e-mail about the job',
  security: [{ bearer: [] }],
  request: { params: JobIdParam },
  responses: {
    200: {
      description: 'The delivery log, oldest first',
      content: { 'application/json': { schema: z.object({ items: z.array(DeliverySchema) }) } },
    },
    ...problemResponses(401, 404),
  },
});

const getSettingsRoute = createRoute({
  method: 'get',
  path: '/v1/settings/notifications',
  operationId: 'settings.notifications.get',
  tags: ['notifications'],
  summary: 'Your default webhook and webhook signing secret',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'The settings', content: { 'application/json': { schema: SettingsSchema } } },
    ...problemResponses(401),
  },
});

const putSettingsRoute = createRoute({
  method: 'put',
  path: '/v1/settings/notifications',
  operationId: 'settings.notifications.update',
  tags: ['notifications'],
  summary: 'Set (or clear with null) the default webhook; `rotateSecret: true` issues a new secret',
  security: [{ bearer: [] }],
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .strictObject({
              webhookUrl: notifyFields.callbackUrl.unwrap().nullable().optional(),
              rotateSecret: z.boolean().optional(),
            })
            .openapi('NotificationSettingsUpdate'),
        },
      },
    },
  },
  responses: {
    200: { description: 'The settings', content: { 'application/json': { schema: SettingsSchema } } },
    ...problemResponses(400, 401, 422),
  },
});

export function registerNotificationRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const { db } = deps.database;

  app.openapi(deliveriesRoute, async (c) => {
    const { id } = c.req.valid('param');
    const job = await visibleJob(db, id, c.get('principal'));
    const rows = await listDeliveries(db, job.id);
    return c.json(
      {
        items: rows.map((d) => ({
          channel: d.channel,
          eventId: d.eventId,
          eventType: d.eventType,
          target: d.target,
          attempt: d.attempt,
          ok: d.ok,
          statusCode: d.statusCode,
          error: d.error,
          durationMs: d.durationMs,
          at: d.at.toISOString(),
        })),
      },
      200,
    );
  });

  app.openapi(getSettingsRoute, async (c) => {
    const s = (await notifySettings(db, c.get('principal').userId))!;
    return c.json({ webhookUrl: s.webhookUrl, webhookSecret: s.webhookSecret }, 200);
  });

  app.openapi(putSettingsRoute, async (c) => {
    const userId = c.get('principal').userId;
    const body = c.req.valid('json');
    if (body.webhookUrl !== undefined) await setDefaultWebhook(db, userId, body.webhookUrl);
    if (body.rotateSecret) await rotateWebhookSecret(db, userId);
    const s = (await notifySettings(db, userId))!;
    return c.json({ webhookUrl: s.webhookUrl, webhookSecret: s.webhookSecret }, 200);
  });
}
