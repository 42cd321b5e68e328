/**
 * Storage in an S3-compatible bucket (AWS S3, MinIO, ...). Each export part is its own object under
 * `parts/<jobId>/`, uploaded whole (multipart for large parts), so stored parts are the checkpoints a
 * retry continues from. Publishing streams prefix + parts + suffix into one multipart upload of the
 * final object: it becomes visible only when the upload completes, and an upload that fails is aborted,
 * so nobody ever sees a partial file. Memory stays bounded by the upload's part size.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  NotFound,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { digesting, joinedParts } from './assemble.js';
import { byteLength, coalesce } from './coalesce.js';
import type { ObjectInfo, PublishResult, Storage } from './storage.js';

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;
/** Size of each uploaded chunk; S3 wants at least 5 MiB for all but the last. */
const UPLOAD_PART_BYTES = 8 * 1024 * 1024;

function checkKey(key: string): void {
  if (key.split('/').some((s) => !SAFE_SEGMENT.test(s) || s === '.' || s === '..'))
    throw new Error(`invalid storage key: ${key}`);
}

export interface S3StorageOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export class S3Storage implements Storage {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(opts: S3StorageOptions) {
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.accessKeyId && opts.secretAccessKey
        ? { credentials: { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } }
        : {}),
    };
    this.client = new S3Client(config);
    this.bucket = opts.bucket;
  }

  private objectKey(key: string): string {
    checkKey(key);
    return `objects/${key}`;
  }

  private partsPrefix(jobId: string): string {
    checkKey(jobId);
    return `parts/${jobId}/`;
  }

  private partKey(jobId: string, index: number): string {
    return `${this.partsPrefix(jobId)}${String(index).padStart(6, '0')}.part`;
  }

  private async upload(key: string, body: Readable): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body },
      partSize: UPLOAD_PART_BYTES,
      queueSize: 1,
      // A failed upload is aborted: no parts are left behind and no object appears.
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async writePart(jobId: string, index: number, body: Readable): Promise<{ bytes: number }> {
    let bytes = 0;
    const batches = async function* () {
      for await (const batch of coalesce(body)) {
        bytes += byteLength(batch);
        yield Buffer.concat(batch);
      }
    };
    await this.upload(this.partKey(jobId, index), Readable.from(batches()));
    return { bytes };
  }

  async publish(
    jobId: string,
    key: string,
    partCount: number,
    prefix?: Buffer,
    suffix?: Buffer,
  ): Promise<PublishResult> {
    const digest = digesting();
    const parts = joinedParts(partCount, (i) => this.readPart(jobId, i), prefix, suffix);
    const through = new PassThrough();
    await Promise.all([
      pipeline(Readable.from(parts), digest.through, through),
      this.upload(this.objectKey(key), through),
    ]);
    return digest.result();
  }

  async listParts(jobId: string): Promise<{ index: number; bytes: number }[]> {
    const prefix = this.partsPrefix(jobId);
    const parts: { index: number; bytes: number }[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        // A part object exists only once its upload completed, so every listed part is whole.
        const m = o.Key ? /^(\d{6,})\.part$/.exec(o.Key.slice(prefix.length)) : null;
        if (m) parts.push({ index: Number(m[1]), bytes: o.Size ?? 0 });
      }
      token = page.NextContinuationToken;
    } while (token);
    return parts.sort((a, b) => a.index - b.index);
  }

  readPart(jobId: string, index: number): Readable {
    return this.getStream(this.partKey(jobId, index));
  }

  async writeObject(key: string, body: Readable): Promise<PublishResult> {
    const digest = digesting();
    const through = new PassThrough();
    // One multipart upload: the object appears only when it completes.
    await Promise.all([pipeline(body, digest.through, through), this.upload(this.objectKey(key), through)]);
    return digest.result();
  }

  async deleteParts(jobId: string): Promise<void> {
    const prefix = this.partsPrefix(jobId);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length > 0)
        await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }),
        );
      token = page.NextContinuationToken;
    } while (token);
    // Uploads of a worker that died mid-part are aborted too, so none of their data is kept.
    const uploads = await this.client.send(
      new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }),
    );
    for (const u of uploads.Uploads ?? []) {
      if (u.Key && u.UploadId)
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
        );
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (err) {
      if (err instanceof NotFound || (err as { name?: string }).name === 'NotFound') return undefined;
      throw err;
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    return this.getStream(this.objectKey(key), range);
  }

  /** A readable of one S3 object (or a byte range of it); errors surface on the stream. */
  private getStream(s3Key: string, range?: { start: number; end: number }): Readable {
    const out = new PassThrough();
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: s3Key,
      ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
    });
    this.client.send(command).then(
      (res) => pipeline(res.Body as Readable, out).catch((err: Error) => out.destroy(err)),
      (err: Error) => out.destroy(err),
    );
    return out;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  /** The client, for tests and tooling that inspect the bucket. */
  get s3(): S3Client {
    return this.client;
  }
}
