/**
 * Where results live. Heavy activities write numbered parts (each part is written whole or not at
 * all), then publish them as one object; a reader never sees a partial object.
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  size: number;
  modifiedAt: Date;
}

export interface PublishResult {
  bytes: number;
  sha256: string;
}

export interface Storage {
  /** Store part `index` of a job, replacing any earlier copy. */
  writePart(jobId: string, index: number, body: Readable): Promise<{ bytes: number }>;
  /**
   * Concatenate `prefix`, parts 0..partCount-1 and `suffix` into the object `key`, atomically. Parts stay.
   * `known`: the size and SHA-256 of those bytes as the caller hashed them while writing the parts; a
   * driver that would otherwise read every part back only to hash it may take them instead.
   */
  publish(
    jobId: string,
    key: string,
    partCount: number,
    prefix?: Buffer,
    suffix?: Buffer,
    known?: PublishResult,
  ): Promise<PublishResult>;
  /** Parts of a job that are stored (whole), by index, with their sizes. */
  listParts(jobId: string): Promise<{ index: number; bytes: number }[]>;
  /** Read one stored part. */
  readPart(jobId: string, index: number): Readable;
  /** Write the object `key` from a stream, atomically (a reader sees all of it or nothing). */
  writeObject(key: string, body: Readable): Promise<PublishResult>;
  /** Remove every part of a job. */
  deleteParts(jobId: string): Promise<void>;
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Read an object, optionally a byte range (inclusive end). */
  read(key: string, range?: { start: number; end: number }): Readable;
  delete(key: string): Promise<void>;
}
