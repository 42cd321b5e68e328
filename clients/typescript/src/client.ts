/**
 * OffloadClient: the offload API through openapi-fetch with the generated types, plus the helpers a job
 * needs: create (with an Idempotency-Key by default), follow its events, wait for its end, download its
 * file with resume, cancel and retry. Every failure is a typed OffloadError (./errors.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import createFetchClient, { type Client } from 'openapi-fetch';
import { downloadTo, type DownloadOptions, type DownloadResult } from './download.js';
import { ConfigurationError, errorFromBody, WaitTimeoutError } from './errors.js';
import { followJob, type FollowOptions, type JobEvent } from './events.js';
import { createTransport, type Transport, type TransportOptions } from './transport.js';
import {
  TERMINAL_STATES,
  type AudioRequest,
  type Dataset,
  type ExportRequest,
  type Job,
  type JobDetail,
  type JobList,
  type JobRef,
  type ListJobsQuery,
  type paths,
  type Voice,
} from './types.js';

export interface ClientOptions extends TransportOptions {
  /** The API's base URL, e.g. `http://localhost:3000`. */
  baseUrl: string;
}

export interface CreateOptions {
  /**
   * The Idempotency-Key sent with the request: by default a new random key per call, reused by the
   * client's own retries of that call, so a retried request never makes a second job. Pass your own to make
   * repeating the call safe across processes, or `false` to send none.
   */
  idempotencyKey?: string | false;
  signal?: AbortSignal;
}

export interface WaitOptions extends FollowOptions {
  /** Give up (WaitTimeoutError) after this many milliseconds; the job itself goes on. */
  timeout?: number;
}

/** What `createExport` and `createAudio` return: the job, and whether an earlier request had made it. */
export type CreatedJob = Job & { replayed: boolean };

const jobId = (job: JobRef) => (typeof job === 'string' ? job : job.id);

export class OffloadClient {
  /** The typed openapi-fetch client, for any route the helpers do not cover. */
  readonly api: Client<paths>;
  readonly baseUrl: string;
  private readonly transport: Transport;

  constructor(options: ClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new ConfigurationError(`the API URL ${JSON.stringify(options.baseUrl)} is not a valid URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ConfigurationError(`the API URL ${options.baseUrl} must start with http:// or https://`);
    }
    this.baseUrl = base.href.replace(/\/+$/, '');
    this.transport = createTransport(options);
    this.api = createFetchClient<paths>({
      baseUrl: this.baseUrl,
      fetch: this.transport,
      // The API reads list filters as comma lists: state=queued,running.
      querySerializer: { array: { style: 'form', explode: false } },
    });
    // Every route this client reads through openapi-fetch answers JSON: anything else (an HTML page, a
    // proxy's text) means the URL is not the offload API, and is said so instead of a JSON parse error.
    this.api.use({
      async onResponse({ response }) {
        if (/json/i.test(response.headers.get('content-type') ?? '')) return undefined;
        throw errorFromBody(
          response,
          await response
            .clone()
            .text()
            .catch(() => ''),
        );
      },
    });
  }

  /** Start an export (POST /v1/exports). */
  async createExport(request: ExportRequest, options: CreateOptions = {}): Promise<CreatedJob> {
    const { data, error, response } = await this.api.POST('/v1/exports', {
      body: request,
      params: { header: idempotencyHeader(options) },
      signal: options.signal,
    });
    return created(data, error, response);
  }

  /** Start speech audio from text (POST /v1/audio). */
  async createAudio(request: AudioRequest, options: CreateOptions = {}): Promise<CreatedJob> {
    const { data, error, response } = await this.api.POST('/v1/audio', {
      body: request,
      params: { header: idempotencyHeader(options) },
      signal: options.signal,
    });
    return created(data, error, response);
  }

  /** One job with live progress and its attempts (GET /v1/jobs/{id}). */
  async getJob(job: JobRef, options: { signal?: AbortSignal } = {}): Promise<JobDetail> {
    const { data, error, response } = await this.api.GET('/v1/jobs/{id}', {
      params: { path: { id: jobId(job) } },
      signal: options.signal,
    });
    return ok(data, error, response);
  }

  /** One page of your jobs, newest first (GET /v1/jobs); pass `nextCursor` as `cursor` for the next. */
  async listJobs(query: ListJobsQuery = {}, options: { signal?: AbortSignal } = {}): Promise<JobList> {
    const { data, error, response } = await this.api.GET('/v1/jobs', {
      params: { query },
      signal: options.signal,
    });
    return ok(data, error, response);
  }

  /** Ask for a queued or running job to be cancelled (POST /v1/jobs/{id}/cancel); a finished one is a ConflictError. */
  async cancel(job: JobRef, options: { signal?: AbortSignal } = {}): Promise<Job> {
    const { data, error, response } = await this.api.POST('/v1/jobs/{id}/cancel', {
      params: { path: { id: jobId(job) } },
      signal: options.signal,
    });
    return ok(data, error, response);
  }

  /** Redrive a failed or cancelled job as a new job (POST /v1/jobs/{id}/retry); returns the new job. */
  async retry(job: JobRef, options: { signal?: AbortSignal } = {}): Promise<Job> {
    const { data, error, response } = await this.api.POST('/v1/jobs/{id}/retry', {
      params: { path: { id: jobId(job) } },
      signal: options.signal,
    });
    return ok(data, error, response);
  }

  /** The exportable datasets with their columns, filters and sorts. */
  async datasets(): Promise<Dataset[]> {
    const { data, error, response } = await this.api.GET('/v1/datasets');
    return ok(data, error, response).items;
  }

  /** The speech engine's voices. */
  async voices(): Promise<Voice[]> {
    const { data, error, response } = await this.api.GET('/v1/voices');
    return ok(data, error, response).voices;
  }

  /**
   * Follow a job's server-sent events until it ends, resuming with Last-Event-ID when the connection drops.
   * Resolves with the job's last view, whatever its final state.
   */
  follow(job: JobRef, onEvent: (event: JobEvent) => void, options: FollowOptions = {}): Promise<Job> {
    const url = `${this.baseUrl}/v1/jobs/${encodeURIComponent(jobId(job))}/events`;
    return followJob(this.transport, url, onEvent, options);
  }

  /**
   * Wait until the job ends (succeeded, failed, cancelled or expired) and resolve with its last view. An
   * abort of `signal` rejects with its reason; `timeout` rejects with WaitTimeoutError.
   */
  async waitFor(job: JobRef, options: WaitOptions = {}): Promise<Job> {
    const timeout = options.timeout;
    const timer = timeout === undefined ? undefined : AbortSignal.timeout(timeout);
    const signals = [options.signal, timer].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
    try {
      const current = typeof job === 'string' ? undefined : (job as Partial<Job>);
      if (current?.state && TERMINAL_STATES.includes(current.state)) return current as Job;
      return await this.follow(job, () => undefined, { ...options, signal });
    } catch (err) {
      if (timer?.aborted && !options.signal?.aborted) throw new WaitTimeoutError(jobId(job), timeout!);
      throw err;
    }
  }

  /**
   * Download a succeeded job's file to a path or a writable stream (which is not ended). A dropped
   * connection is resumed with Range; the result is checked against the job's size and sha256.
   */
  async download(job: JobRef, to: string | Writable, options: DownloadOptions = {}): Promise<DownloadResult> {
    const view = await this.getJob(job, { signal: options.signal });
    const url = `${this.baseUrl}/v1/jobs/${encodeURIComponent(view.id)}/download`;
    const expected = view.result ? { bytes: view.result.bytes, sha256: view.result.sha256 } : {};
    return downloadTo(this.transport, url, to, expected, options);
  }
}

function idempotencyHeader(options: CreateOptions): { 'idempotency-key'?: string } {
  if (options.idempotencyKey === false) return {};
  return { 'idempotency-key': options.idempotencyKey ?? randomUUID() };
}

/** The body of a success, or the typed error of anything else. */
function ok<T>(data: T | undefined, error: unknown, response: Response): T {
  if (response.ok && data !== undefined) return data;
  throw errorFromBody(response, error);
}

function created(data: Job | undefined, error: unknown, response: Response): CreatedJob {
  const job = ok(data, error, response);
  return { ...job, replayed: response.headers.get('idempotent-replayed') === 'true' };
}
