/**
 * Notification activities on the `jobs` queue: a signed webhook (Standard Webhooks) and an e-mail with a
 * signed download link, each attempt written to the delivery log. Temporal retries them with backoff for
 * up to a day (see src/workflows/notify.ts); a refused destination is not retried.
 */
import http from 'node:http';
import https from 'node:https';
import { ApplicationFailure, Context } from '@temporalio/activity';
import nodemailer from 'nodemailer';
import { recordDelivery } from '../db/deliveries-repo.js';
import { getJob, type JobRow } from '../db/jobs-repo.js';
import { notifySettings } from '../db/notify-settings-repo.js';
import { sharedSecret } from '../db/secrets-repo.js';
import { checkLiteralHost, DestinationRefused, guardedLookup, type NetPolicy } from '../lib/net-guard.js';
import { DOWNLOAD_SECRET, signedDownloadPath } from '../lib/signed-links.js';
import { signWebhook } from '../lib/webhook-signature.js';
import { ErrorType } from '../shared/errors.js';
import type { JobEventType, JobResult } from '../shared/jobs.js';
import type { ActivityDeps } from './deps.js';

export interface NotifyConfig {
  /** Base URL of the API as recipients reach it, for links. */
  publicUrl: string;
  linkTtlSeconds: number;
  net: NetPolicy;
  webhookTimeoutMs: number;
  smtpUrl?: string;
  mailFrom: string;
}

/** What the workflow should deliver for one job event. */
export interface NotificationPlan {
  webhook: boolean;
  email: boolean;
}

export interface DeliveryInput {
  jobId: string;
  eventId: string;
  eventType: JobEventType;
}

const MAX_ERROR = 500;

export function createNotifyActivities(deps: ActivityDeps) {
  const { db } = deps.database;
  const cfg = deps.notify;

  async function loadJob(jobId: string): Promise<JobRow> {
    const job = await getJob(db, jobId);
    if (!job) throw ApplicationFailure.nonRetryable(`job ${jobId} does not exist`, ErrorType.JobNotFound);
    return job;
  }

  async function webhookUrl(job: JobRow): Promise<string | null> {
    if (job.notify?.callbackUrl) return job.notify.callbackUrl;
    return (await notifySettings(db, job.userId))?.webhookUrl ?? null;
  }

  async function downloadUrl(job: JobRow): Promise<string | null> {
    if (job.state !== 'succeeded') return null;
    const secret = await sharedSecret(db, DOWNLOAD_SECRET);
    const expires = Math.floor(Date.now() / 1000) + cfg.linkTtlSeconds;
    return cfg.publicUrl.replace(/\/$/, '') + signedDownloadPath(secret, job.id, expires);
  }

  async function eventBody(job: JobRow, type: JobEventType) {
    return {
      type,
      timestamp: new Date().toISOString(),
      data: {
        id: job.id,
        kind: job.kind,
        state: job.state,
        createdAt: job.createdAt.toISOString(),
        finishedAt: job.finishedAt?.toISOString() ?? null,
        attempts: job.attempts,
        result: job.result
          ? {
              fileName: job.result.fileName,
              contentType: job.result.contentType,
              bytes: job.result.bytes,
              ...resultHeadline(job.result),
              sha256: job.result.sha256,
            }
          : null,
        error: job.error ?? null,
        retryOf: job.retryOf ?? null,
        links: {
          self: `${cfg.publicUrl.replace(/\/$/, '')}/v1/jobs/${job.id}`,
          download: await downloadUrl(job),
        },
      },
    };
  }

  function post(url: URL, body: string, headers: Record<string, string>, signal: AbortSignal) {
    checkLiteralHost(cfg.net, url.hostname);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<number>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
          lookup: guardedLookup(cfg.net),
          timeout: cfg.webhookTimeoutMs,
          signal,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${cfg.webhookTimeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  return {
    async planNotifications(jobId: string): Promise<NotificationPlan> {
      const job = await loadJob(jobId);
      return { webhook: (await webhookUrl(job)) !== null, email: Boolean(job.notify?.email) };
    },

    async deliverWebhook(input: DeliveryInput): Promise<void> {
      const ctx = Context.current();
      const job = await loadJob(input.jobId);
      const target = await webhookUrl(job);
      if (!target) return;
      const settings = (await notifySettings(db, job.userId))!;
      const body = JSON.stringify(await eventBody(job, input.eventType));
      const timestamp = Math.floor(Date.now() / 1000);
      const started = Date.now();
      const log = deps.log.child({ jobId: job.id, workflowId: job.workflowId, attempt: ctx.info.attempt });
      let statusCode: number | null = null;
      let error: string | null = null;
      try {
        statusCode = await post(
          new URL(target),
          body,
          {
            'content-type': 'application/json',
            'user-agent': 'offload-webhooks/1',
            'webhook-id': input.eventId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(settings.webhookSecret, input.eventId, timestamp, body),
          },
          ctx.cancellationSignal,
        );
        if (statusCode < 200 || statusCode >= 300) error = `HTTP ${statusCode}`;
      } catch (err) {
        error = (err as Error).message.slice(0, MAX_ERROR);
        if (err instanceof DestinationRefused) {
          await recordDelivery(db, {
            jobId: job.id,
            channel: 'webhook',
            eventId: input.eventId,
            eventType: input.eventType,
            target,
            attempt: ctx.info.attempt,
            ok: false,
            error,
            durationMs: Date.now() - started,
          });
          log.warn({ target, error }, 'webhook destination refused');
          throw ApplicationFailure.nonRetryable(error, ErrorType.DestinationRefused);
        }
      }
      await recordDelivery(db, {
        jobId: job.id,
        channel: 'webhook',
        eventId: input.eventId,
        eventType: input.eventType,
        target,
        attempt: ctx.info.attempt,
        ok: error === null,
        statusCode,
        error,
        durationMs: Date.now() - started,
      });
      if (error !== null) {
        log.warn({ target, error }, 'webhook delivery failed; Temporal retries it');
        throw ApplicationFailure.retryable(`webhook to ${target}: ${error}`, 'WebhookDeliveryFailed');
      }
      log.info({ target, statusCode }, 'webhook delivered');
    },

    async sendJobEmail(input: DeliveryInput): Promise<void> {
      const ctx = Context.current();
      const job = await loadJob(input.jobId);
      const to = job.notify?.email;
      if (!to) return;
      if (!cfg.smtpUrl) {
        throw ApplicationFailure.nonRetryable('SMTP_URL is not configured', ErrorType.NotConfigured);
      }
      const started = Date.now();
      const link = await downloadUrl(job);
      const outcome = input.eventType.replace('job.', '');
      const lines = [
        `Your ${job.kind} job ${job.id} has ${outcome}.`,
        '',
        ...(link ? [`Download ${job.result?.fileName ?? 'the result'}: ${link}`, ''] : []),
        ...(job.error ? [`Error: ${job.error.type}: ${job.error.message}`, ''] : []),
        `Status: ${cfg.publicUrl.replace(/\/$/, '')}/v1/jobs/${job.id}`,
      ];
      let error: string | null = null;
      try {
        const transport = nodemailer.createTransport(cfg.smtpUrl);
        try {
          await transport.sendMail({
            from: cfg.mailFrom,
            to,
            subject: `offload: ${job.kind} ${outcome} (${job.id})`,
            text: lines.join('\n'),
            headers: { 'X-Offload-Job': job.id, 'X-Offload-Event': input.eventId },
          });
        } finally {
          transport.close();
        }
      } catch (err) {
        error = (err as Error).message.slice(0, MAX_ERROR);
      }
      await recordDelivery(db, {
        jobId: job.id,
        channel: 'email',
        eventId: input.eventId,
        eventType: input.eventType,
        target: to,
        attempt: ctx.info.attempt,
        ok: error === null,
        error,
        durationMs: Date.now() - started,
      });
      if (error !== null)
        throw ApplicationFailure.retryable(`e-mail to ${to}: ${error}`, 'EmailDeliveryFailed');
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;

/** The size a webhook announces beside the bytes: an export's rows, an audio file's duration. */
function resultHeadline(result: JobResult): { rows?: number; durationSeconds?: number } {
  const { rows, durationSeconds } = result as { rows?: unknown; durationSeconds?: unknown };
  return typeof rows === 'number' ? { rows } : typeof durationSeconds === 'number' ? { durationSeconds } : {};
}
