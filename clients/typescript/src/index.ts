/** @offload/client: a typed client for the offload job API. */
export {
  OffloadClient,
  type ClientOptions,
  type CreateOptions,
  type CreatedJob,
  type WaitOptions,
} from './client.js';
export type { DownloadOptions, DownloadResult } from './download.js';
export type { FollowOptions, JobEvent } from './events.js';
export * from './errors.js';
export type { TransportOptions } from './transport.js';
export * from './types.js';
