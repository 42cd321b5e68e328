/**
 * Listing jobs with keyset pagination on the job id. Ids are time-sortable and unique, so "newest first,
 * after this id" is stable under concurrent inserts: a new job sorts before the first page, never between
 * two pages, and no row is repeated or skipped.
 */
import { and, desc, eq, gt, gte, inArray, lt, or, type SQL } from 'drizzle-orm';
import type { JobKind, JobState } from '../shared/jobs.js';
import type { Db } from './client.js';
import type { JobRow } from './jobs-repo.js';
import { jobs } from './schema.js';

export interface JobFilter {
  /** Only this user's jobs; all users when undefined (admin). */
  userId?: string;
  kinds?: JobKind[];
  states?: JobState[];
  createdFrom?: Date;
  createdTo?: Date;
  /** Return jobs whose id sorts before this one (the last id of the previous page). */
  before?: string;
  limit: number;
}

export async function listJobs(
  db: Db,
  f: JobFilter,
): Promise<{ items: JobRow[]; nextCursor: string | null }> {
  const where: SQL[] = [];
  if (f.userId) where.push(eq(jobs.userId, f.userId));
  if (f.kinds?.length) where.push(inArray(jobs.kind, f.kinds));
  if (f.states?.length) where.push(inArray(jobs.state, f.states));
  if (f.createdFrom) where.push(gte(jobs.createdAt, f.createdFrom));
  if (f.createdTo) where.push(lt(jobs.createdAt, f.createdTo));
  if (f.before) where.push(lt(jobs.id, f.before));
  const rows = await db
    .select()
    .from(jobs)
    .where(and(...where))
    .orderBy(desc(jobs.id))
    .limit(f.limit + 1);
  const items = rows.slice(0, f.limit);
  return { items, nextCursor: rows.length > f.limit ? items[items.length - 1]!.id : null };
}

/**
 * A page boundary: the id of the last job of the page (the next page has the older ids). Its format is
 * CURSOR_PATTERN, which the document states, so every cursor valid by the document is one this accepts.
 */
export const CURSOR_PATTERN = /^job_[0-9a-z]{26}$/;

export function encodeCursor(id: string): string {
  return id;
}

export function decodeCursor(cursor: string): string | undefined {
  return CURSOR_PATTERN.test(cursor) ? cursor : undefined;
}

/** A user's jobs worth following: every active one, and any that changed after `since`. */
export async function listFollowable(db: Db, userId: string, since: Date, limit = 500): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(
      and(eq(jobs.userId, userId), or(inArray(jobs.state, ['queued', 'running']), gt(jobs.updatedAt, since))),
    )
    .orderBy(desc(jobs.id))
    .limit(limit);
}
