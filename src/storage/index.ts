/** The storage driver the config asks for: a local directory (default) or an S3-compatible bucket. */
import type { Config } from '../config/env.js';
import { LocalStorage } from './local.js';
import { S3Storage } from './s3.js';
import type { Storage } from './storage.js';
import { tracedStorage } from './traced.js';

/** The storage the config asks for, with spans for its writes (see ./traced.ts). */
export function createStorage(config: Config): Storage {
  return tracedStorage(storageDriver(config), config.STORAGE_DRIVER);
}

function storageDriver(config: Config): Storage {
  if (config.STORAGE_DRIVER === 's3') {
    return new S3Storage({
      bucket: config.S3_BUCKET!,
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      accessKeyId: config.S3_ACCESS_KEY_ID,
      secretAccessKey: config.S3_SECRET_ACCESS_KEY,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
    });
  }
  return new LocalStorage(config.storageDir);
}

export type { Storage } from './storage.js';
