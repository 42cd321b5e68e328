/**
 * Notifications on the real stack: Standard Webhooks signed callbacks retried after a failure with a
 * delivery log, a user's default webhook, the refusal of private destinations (SSRF), and e-mail over a
 * real SMTP server started here, parsed back, with a signed download link that works without a key.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../src/lib/webhook-signature.js';
import { parseCsv, seedTenant, tenantRowsAsText } from '../helpers/data.js';
import { api, eventually, startStack, type Stack } from '../helpers/stack.js';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
interface Delivery {
  channel: string;
  eventId: string;
  eventType: string;
  target: string;
  attempt: number;
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}
interface WebhookEvent {
  type: string;
  data: { id: string; state: string; result: { rows: number } | null; links: { download: string | null } };
}

let stack: Stack;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];
/** Paths whose first request is answered 503. */
const failFirst = new Set<string>();
let smtp: SMTPServer;
const mails: ParsedMail[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const path = req.url ?? '';
      if (failFirst.delete(path)) {
        res.writeHead(503).end('try later');
        return;
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  stack = await startStack({
    env: {
      WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      EXPORT_PART_ROWS: '1000',
      EXPORT_MAX_ROWS_PER_SEC: '20000',
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      MAIL_FROM: 'offload <noreply@offload.test>',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await new Promise((r) => receiver?.close(r));
  await new Promise((r) => smtp?.close(r as () => void));
});

async function submit(key: string, extra: Record<string, unknown>) {
  const res = await api(stack, key)('/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ dataset: 'orders', format: 'csv', ...extra }),
  });
  expect(res.status).toBe(202);
  return (await res.json()) as { id: string; links: Record<string, string> };
}

async function deliveries(key: string, id: string): Promise<Delivery[]> {
  return ((await (await api(stack, key)(`/v1/jobs/${id}/deliveries`)).json()) as { items: Delivery[] }).items;
}

describe('webhooks', () => {
  it('posts a signed job.succeeded event, retries a failed delivery with the same id, and logs each attempt', async () => {
    const tenant = await seedTenant(stack.database.sql, 300);
    const { key } = await stack.newUser(tenant);
    const settings = (await (await api(stack, key)('/v1/settings/notifications')).json()) as {
      webhookSecret: string;
    };
    expect(settings.webhookSecret).toMatch(/^whsec_/);
    failFirst.add('/hooks/a');
    const job = await submit(key, { callbackUrl: `${receiverUrl}/hooks/a` });

    const log = await eventually(async () => {
      const d = await deliveries(key, job.id);
      return d.some((x) => x.ok) ? d : undefined;
    }, 60_000);
    expect(log.map((d) => [d.attempt, d.ok, d.statusCode])).toEqual([
      [1, false, 503],
      [2, true, 204],
    ]);
    expect(new Set(log.map((d) => d.eventId)).size).toBe(1);

    const hits = received.filter((r) => r.path === '/hooks/a');
    expect(hits).toHaveLength(2);
    for (const hit of hits) {
      expect(hit.headers['content-type']).toBe('application/json');
      expect(hit.headers['webhook-id']).toBe(log[0]!.eventId);
      const ok = verifyWebhook(
        settings.webhookSecret,
        {
          id: String(hit.headers['webhook-id']),
          timestamp: String(hit.headers['webhook-timestamp']),
          signature: String(hit.headers['webhook-signature']),
        },
        hit.body,
      );
      expect(ok).toBe(true);
      // A different secret or a changed body does not verify.
      expect(
        verifyWebhook(
          settings.webhookSecret,
          {
            id: String(hit.headers['webhook-id']),
            timestamp: String(hit.headers['webhook-timestamp']),
            signature: String(hit.headers['webhook-signature']),
          },
          hit.body.replace('succeeded', 'failed'),
        ),
      ).toBe(false);
    }
    const event = JSON.parse(hits[1]!.body) as WebhookEvent;
    expect(event.type).toBe('job.succeeded');
    expect(event.data).toMatchObject({ id: job.id, state: 'succeeded', result: { rows: 300 } });
    // The signed link in the event downloads the file without an API key.
    const file = await fetch(event.data.links.download!);
    expect(file.status).toBe(200);
    // (Compared row by row: a COPY stream from the test's own pool would hold a connection.)
    expect(parseCsv(await file.text()).slice(1)).toEqual(await tenantRowsAsText(stack.database.sql, tenant));
  });

  it("uses the user's default webhook", async () => {
    const tenant = await seedTenant(stack.database.sql, 50);
    const { key } = await stack.newUser(tenant);
    const put = await api(stack, key)('/v1/settings/notifications', {
      method: 'PUT',
      body: JSON.stringify({ webhookUrl: `${receiverUrl}/hooks/default` }),
    });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { webhookUrl: string }).webhookUrl).toBe(`${receiverUrl}/hooks/default`);
    const job = await submit(key, {});
    await eventually(
      async () => ((await deliveries(key, job.id)).some((d) => d.ok) ? true : undefined),
      60_000,
    );
    const hit = received.find((r) => r.path === '/hooks/default');
    expect((JSON.parse(hit!.body) as WebhookEvent).data.id).toBe(job.id);

    const bad = await api(stack, key)('/v1/settings/notifications', {
      method: 'PUT',
      body: JSON.stringify({ webhookUrl: 'ftp://example.com/x' }),
    });
    expect(bad.status).toBe(422);
  });

  it('announces a cancellation with job.cancelled', async () => {
    const tenant = await seedTenant(stack.database.sql, 100_000);
    const { key } = await stack.newUser(tenant);
    const job = await submit(key, { callbackUrl: `${receiverUrl}/hooks/cancel` });
    await eventually(async () => {
      const j = (await (await api(stack, key)(`/v1/jobs/${job.id}`)).json()) as { state: string };
      return j.state === 'running' ? j : undefined;
    });
    expect((await api(stack, key)(`/v1/jobs/${job.id}/cancel`, { method: 'POST' })).status).toBe(202);
    const log = await eventually(async () => {
      const d = await deliveries(key, job.id);
      return d.some((x) => x.ok) ? d : undefined;
    }, 30_000);
    expect(log[0]?.eventType).toBe('job.cancelled');
    const hit = received.find((r) => r.path === '/hooks/cancel');
    const event = JSON.parse(hit!.body) as WebhookEvent;
    expect(event).toMatchObject({
      type: 'job.cancelled',
      data: { id: job.id, state: 'cancelled', result: null },
    });
    expect(event.data.links.download).toBeNull();
  });

  it('refuses private, loopback and link-local destinations unless configured (SSRF)', async () => {
    const tenant = await seedTenant(stack.database.sql, 20);
    const { key } = await stack.newUser(tenant);
    const port = new URL(receiverUrl).port;
    const before = received.length;
    // `localhost` resolves to a loopback address and is not on the allow list (only 127.0.0.1 is).
    const targets = [
      `http://localhost:${port}/ssrf`,
      `http://[::1]:${port}/ssrf`,
      'http://169.254.169.254/latest',
    ];
    const jobs = await Promise.all(targets.map((callbackUrl) => submit(key, { callbackUrl })));
    for (const [i, job] of jobs.entries()) {
      const log = await eventually(async () => {
        const d = await deliveries(key, job.id);
        return d.length > 0 ? d : undefined;
      }, 60_000);
      expect(log, targets[i]).toHaveLength(1);
      expect(log[0]).toMatchObject({ ok: false, statusCode: null, target: targets[i] });
      expect(log[0]!.error).toMatch(/private or special address; refused/);
    }
    expect(received.slice(before).filter((r) => r.path === '/ssrf')).toEqual([]);
  });
});

describe('e-mail', () => {
  it('sends a message with a signed download link over SMTP', async () => {
    const tenant = await seedTenant(stack.database.sql, 120);
    const { key } = await stack.newUser(tenant);
    const job = await submit(key, { notifyEmail: 'ada@example.test' });
    const mail = await eventually(
      () => Promise.resolve(mails.find((m) => m.subject?.includes(job.id))),
      60_000,
    );
    expect(mail.from?.value[0]).toMatchObject({ name: 'offload', address: 'noreply@offload.test' });
    expect((Array.isArray(mail.to) ? mail.to[0] : mail.to)?.text).toBe('ada@example.test');
    expect(mail.subject).toBe(`offload: export succeeded (${job.id})`);
    const link = /(http:\/\/\S+\/files\/\S+)/.exec(mail.text ?? '')?.[1];
    expect(link).toBeDefined();
    const file = await fetch(link!);
    expect(file.status).toBe(200);
    // (Compared row by row: a COPY stream from the test's own pool would hold a connection.)
    expect(parseCsv(await file.text()).slice(1)).toEqual(await tenantRowsAsText(stack.database.sql, tenant));
    const log = await deliveries(key, job.id);
    expect(log).toMatchObject([
      { channel: 'email', ok: true, target: 'ada@example.test', eventType: 'job.succeeded' },
    ]);

    const invalid = await api(stack, key)('/v1/exports', {
      method: 'POST',
      body: JSON.stringify({ dataset: 'orders', format: 'csv', notifyEmail: 'not-an-address' }),
    });
    expect(invalid.status).toBe(422);
    expect(((await invalid.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe('notifyEmail');
  });
});
