/**
 * A database of a test stack's own, copied from the run's migrated template (test/setup/global.ts), so
 * that test files can run side by side: one file's jobs, backlog, metrics and outbox relay never see
 * another's. Dropped when the stack stops.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';

export interface StackDatabase {
  url: string;
  drop(): Promise<void>;
}

/** The URL of another database on the same server as `url`. */
export function databaseUrlFor(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createStackDatabase(serverUrl: string, template: string): Promise<StackDatabase> {
  const name = `stack_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    // One copy of the template at a time: PostgreSQL refuses a copy while another session uses it.
    // (CREATE DATABASE cannot run in a transaction, so the lock is the session's; max: 1 keeps one.)
    await admin`select pg_advisory_lock(727003)`;
    await admin.unsafe(`create database "${name}" template "${template}"`);
  } finally {
    await admin`select pg_advisory_unlock(727003)`.catch(() => undefined);
    await admin.end({ timeout: 5 });
  }
  return {
    url: databaseUrlFor(serverUrl, name),
    async drop() {
      const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
