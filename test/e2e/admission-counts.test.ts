/**
 * Admission's counts (`job_backlog`, `user_active_jobs`, kept by triggers on `jobs`) on databases of
 * their own on the run's PostgreSQL server: after every kind of change they equal the counts over
 * `jobs` that admission made before they existed, so does their backfill when the migration runs on a
 * database that already has jobs, and concurrent submissions of one user never pass the user's cap,
 * whether admission runs in one round trip (`inOneTransaction`) or in a drizzle transaction; a failed
 * statement of the one round trip leaves nothing behind.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createDatabase, inOneTransaction, type Database, type Sql } from '../../src/db/client.js';
import { getJob, insertJob, txSql, type NewJob } from '../../src/db/jobs-repo.js';
import { admitJob } from '../../src/db/limits-repo.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { migrateBefore } from '../helpers/migrations.js';

let admin: Sql;
const databases: string[] = [];
const opened: Database[] = [];

/** A new, empty database on the run's server; its URL. */
async function createOwnDatabase(): Promise<string> {
  const name = `offload_admission_${randomUUID().slice(0, 8)}`;
  await admin.unsafe(`create database ${name}`);
  databases.push(name);
  const own = new URL(inject('databaseUrl'));
  own.pathname = `/${name}`;
  return own.toString();
}

function open(url: string): Database {
  const database = createDatabase(url, { max: 8 });
  opened.push(database);
  return database;
}

beforeAll(() => {
  const adminUrl = new URL(inject('databaseUrl'));
  adminUrl.pathname = '/postgres';
  admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  if (admin) {
    for (const name of databases) await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});

/** The counts as triggers keep them, and as a scan of jobs finds them (what admission used to count). */
async function counts(sql: Sql) {
  const [kept] = await sql<{ backlog: number; active: Record<string, number> | null }[]>`
    select (select coalesce(sum(queued), 0)::int from job_backlog) as backlog,
           (select json_object_agg(user_id, n) from (
              select user_id, sum(active)::int as n from user_active_jobs group by user_id
            ) u where n <> 0) as active`;
  const [scanned] = await sql<{ backlog: number; active: Record<string, number> | null }[]>`
    select (select count(*)::int from jobs where state = 'queued') as backlog,
           (select json_object_agg(user_id, n) from (
              select user_id, count(*)::int as n from jobs where state in ('queued', 'running') group by user_id
            ) a) as active`;
  return {
    kept: { ...kept!, active: kept!.active ?? {} },
    scanned: { ...scanned!, active: scanned!.active ?? {} },
  };
}

async function addUsers(sql: Sql, ids: string[]) {
  for (const id of ids)
    await sql`insert into users (id, name, tenant_id) values (${id}, ${id}, ${`t_${id}`})`;
}

const job = (id: string, userId: string): NewJob => ({
  id,
  userId,
  tenantId: `t_${userId}`,
  kind: 'export',
  request: { dataset: 'orders', format: 'csv' },
  workflowId: `wf-${id}`,
});

describe('admission counts', () => {
  it('equal the counts over jobs after inserts, every state change, deletes and multi-row updates', async () => {
    const url = await createOwnDatabase();
    await migrateDatabase(url);
    const { sql, db } = open(url);
    await addUsers(sql, ['u1', 'u2', 'u3']);
    const check = async (backlog: number, active: Record<string, number>) => {
      const { kept, scanned } = await counts(sql);
      expect(kept).toEqual(scanned);
      expect(kept).toEqual({ backlog, active });
    };
    await check(0, {});
    for (let i = 0; i < 20; i++) await insertJob(db, job(`j${i}`, `u${(i % 3) + 1}`));
    await check(20, { u1: 7, u2: 7, u3: 6 });
    await sql`update jobs set state = 'running' where id in ('j0', 'j1', 'j2')`;
    await check(17, { u1: 7, u2: 7, u3: 6 });
    await sql`update jobs set state = 'succeeded' where id in ('j0', 'j3')`;
    await check(16, { u1: 5, u2: 7, u3: 6 });
    // A retried attempt goes back to queued; a change that is not of the state moves nothing.
    await sql`update jobs set state = 'queued' where id = 'j1'`;
    await sql`update jobs set attempts = attempts + 1, priority = 2 where id in ('j1', 'j4')`;
    await sql`update jobs set state = state where id = 'j5'`;
    await check(17, { u1: 5, u2: 7, u3: 6 });
    await sql`update jobs set state = 'cancelled' where user_id = 'u2'`;
    await check(10, { u1: 5, u3: 6 });
    await sql`update jobs set state = 'failed' where id = 'j2'`;
    await sql`update jobs set state = 'expired' where id = 'j0'`;
    await check(10, { u1: 5, u3: 5 });
    await sql`delete from jobs where id in ('j6', 'j9', 'j0', 'j2')`;
    await check(8, { u1: 3, u3: 5 });
    // Straight into running (no queued first), then out of it by a delete.
    await sql`insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id)
      values ('r1', 'u3', 't_u3', 'export', 'running', '{}', 'wf-r1')`;
    await check(8, { u1: 3, u3: 6 });
    await sql`delete from jobs where id = 'r1'`;
    await check(8, { u1: 3, u3: 5 });
  });

  it('are backfilled from the jobs already there when the migration runs on an existing database', async () => {
    const url = await createOwnDatabase();
    // The schema before the counts, with jobs in every state.
    await migrateBefore(url, '0007_admission_counts');
    const raw = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await addUsers(raw, ['a', 'b']);
      await raw`insert into jobs (id, user_id, tenant_id, kind, state, request, workflow_id)
        select 'old_' || i, case when i % 4 = 0 then 'a' else 'b' end, 't', 'export',
               (array['queued', 'running', 'succeeded', 'failed', 'queued'])[1 + i % 5]::job_state, '{}', 'wf-' || i
        from generate_series(1, 100) as i`;
    } finally {
      await raw.end();
    }
    await migrateDatabase(url);
    const { sql, db } = open(url);
    const before = await counts(sql);
    expect(before.kept).toEqual(before.scanned);
    expect(before.kept.backlog).toBe(40);
    // The triggers carry on from the backfill.
    await insertJob(db, job('new_1', 'a'));
    await sql`update jobs set state = 'running' where id in ('old_5', 'old_10')`;
    await sql`update jobs set state = 'succeeded' where id = 'old_2'`;
    const after = await counts(sql);
    expect(after.kept).toEqual(after.scanned);
    expect(after.kept.backlog).toBe(39);
  });

  it('admit exactly the cap of one user’s concurrent submissions, and count the backlog of all users', async () => {
    const url = await createOwnDatabase();
    await migrateDatabase(url);
    const { sql, db } = open(url);
    await addUsers(sql, ['c1', 'c2']);
    // Both ways createJob runs admission: in one round trip, and inside a drizzle transaction (the
    // Idempotency-Key path), alternately.
    const limits = { maxActiveJobs: 5, heavyBacklogMax: 8 };
    let n = 0;
    const submit = (id: string, userId: string) =>
      n++ % 2 === 0
        ? inOneTransaction(sql, (tx) => admitJob(tx, { ...job(id, userId), priority: 3 }, limits))
        : db.transaction((tx) => admitJob(txSql(tx), { ...job(id, userId), priority: 3 }, limits));
    const first = await Promise.all(Array.from({ length: 12 }, (_, i) => submit(`c1_${i}`, 'c1')));
    expect(first.filter((o) => o.admitted)).toHaveLength(5);
    const refused = first.find((o) => !o.admitted);
    expect(refused).toEqual({ admitted: false, reason: 'user-active-cap', active: 5, limit: 5 });
    const second = await Promise.all(Array.from({ length: 6 }, (_, i) => submit(`c2_${i}`, 'c2')));
    // Five of c1's are queued: c2 gets the three places left in the backlog of eight.
    expect(second.filter((o) => o.admitted)).toHaveLength(3);
    expect(second.find((o) => !o.admitted)).toEqual({
      admitted: false,
      reason: 'heavy-backlog',
      backlog: 8,
      limit: 8,
    });
    const { kept, scanned } = await counts(sql);
    expect(kept).toEqual(scanned);
    // The row admission hands back is the row stored, and its queued event is there.
    const admitted = first.find((o) => o.admitted);
    expect(admitted?.admitted && admitted.job).toEqual(
      await getJob(db, admitted!.admitted ? admitted!.job.id : ''),
    );
    const [events] = await sql<{ n: number }[]>`
      select count(*)::int as n from job_events where state = 'queued' and job_id like 'c%'`;
    expect(events!.n).toBe(8);
  });

  it('leave nothing behind when a statement of the one round trip fails', async () => {
    const url = await createOwnDatabase();
    await migrateDatabase(url);
    const { sql } = open(url);
    await addUsers(sql, ['f1']);
    // A job whose user does not exist: the insert fails its foreign key after the lock was taken.
    const bad = { ...job('f_bad', 'nobody'), priority: 3 };
    await expect(
      inOneTransaction(sql, (tx) => admitJob(tx, bad, { maxActiveJobs: 5, heavyBacklogMax: 8 })),
    ).rejects.toThrow(/foreign key/);
    const { kept, scanned } = await counts(sql);
    expect(kept).toEqual({ backlog: 0, active: {} });
    expect(scanned).toEqual(kept);
    // The connection went back to the pool out of any transaction: the next one works.
    const good = await inOneTransaction(sql, (tx) =>
      admitJob(tx, { ...job('f_good', 'f1'), priority: 3 }, { maxActiveJobs: 5, heavyBacklogMax: 8 }),
    );
    expect(good.admitted).toBe(true);
    expect((await counts(sql)).kept).toEqual({ backlog: 1, active: { f1: 1 } });
  });
});
