/**
 * The creation route of every job kind (src/kinds): `POST /v1/exports`, `POST /v1/audio`, … Each body is
 * the kind's own fields plus fileName, the notification fields and priority; the kind turns a valid body
 * into the stored request (its checks that need the database or an engine), then createJob records the
 * job and the route answers 202 in milliseconds (the outbox relay starts its workflow). A kind's other routes are registered beside it.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Config } from '../../config/env.js';
import { jobKinds } from '../../kinds/index.js';
import type { BodySchemaExtra, JobKindDefinition } from '../../kinds/kind.js';
import type { AppDeps } from '../deps.js';
import type { AppEnv } from '../http/context.js';
import { createJob } from '../jobs/create-job.js';
import { jobView, progressFromRow } from '../jobs/job-view.js';
import { notifyFields, splitNotify } from '../jobs/notify-fields.js';
import { fileNameField, jobCreation, priorityField } from './job-schemas.js';

const schemas = new WeakMap<JobKindDefinition, WeakMap<Config, ReturnType<typeof buildCreationSchema>>>();

/** The body of a kind's creation route (one object per kind and config: other routes may take it too). */
export function creationSchema(kind: JobKindDefinition, config: Config) {
  let byConfig = schemas.get(kind);
  if (!byConfig) schemas.set(kind, (byConfig = new WeakMap()));
  let schema = byConfig.get(config);
  if (!schema) byConfig.set(config, (schema = buildCreationSchema(kind, config)));
  return schema;
}

function buildCreationSchema(kind: JobKindDefinition, config: Config) {
  const { refine } = kind.create;
  return z
    .strictObject({
      ...kind.create.fields(config),
      fileName: fileNameField,
      ...notifyFields,
      priority: priorityField,
    })
    .superRefine((body, ctx) => refine?.(body, ctx))
    .openapi(
      kind.create.schemaName,
      (typeof kind.create.refineSchema === 'function'
        ? kind.create.refineSchema()
        : kind.create.refineSchema) ?? {},
    );
}

/** What /openapi.json adds at request time to a kind's creation body (KindApi.bodySchema). */
export interface KindDocument {
  schemaName: string;
  bodySchema: () => Promise<BodySchemaExtra>;
}

function registerKind(app: OpenAPIHono<AppEnv>, deps: AppDeps, kind: JobKindDefinition): KindDocument {
  const schema = creationSchema(kind, deps.config);
  const route = createRoute({
    method: 'post',
    path: kind.create.path,
    operationId: kind.create.operationId,
    tags: [kind.create.tag],
    summary: kind.create.summary,
    security: [{ bearer: [] }],
    ...jobCreation(schema),
  });
  const api = kind.api(deps);
  app.openapi(route, async (c) => {
    const principal = c.get('principal');
    const body = c.req.valid('json') as Record<string, unknown> & { priority?: number };
    const { priority, ...submitted } = body;
    const { request: fields, notify } = splitNotify(submitted);
    const request = await api.prepare(fields, principal);
    const { job, replayed } = await createJob(c, deps, {
      principal,
      kind: kind.name,
      request,
      notify,
      priority,
      idempotency: {
        scope: kind.create.operationId,
        key: c.req.valid('header')['idempotency-key'],
        body,
      },
    });
    const view = jobView(job, progressFromRow(job));
    return replayed ? c.json(view, 200) : c.json(view, 202);
  });
  api.routes?.(app);
  return {
    schemaName: kind.create.schemaName,
    bodySchema: api.bodySchema ?? (() => Promise.resolve({ properties: {} })),
  };
}

/** Every registered kind's routes; what each adds to the document at request time. */
export function registerJobKindRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): KindDocument[] {
  return jobKinds.list().map((kind) => registerKind(app, deps, kind));
}
