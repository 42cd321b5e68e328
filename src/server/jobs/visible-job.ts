/** The job a caller may see (their own; any for an admin), or the same 404 as for a job that does not exist. */
import type { Db } from '../../db/client.js';
import { getJobFor, type JobRow } from '../../db/jobs-repo.js';
import type { Principal } from '../../db/users-repo.js';
import { isJobId } from '../../lib/ids.js';
import { problems } from '../http/problem.js';

export async function visibleJob(db: Db, id: string, principal: Principal): Promise<JobRow> {
  const job = isJobId(id) ? await getJobFor(db, id, principal) : undefined;
  if (!job) throw problems.notFound(`job ${id}`);
  return job;
}
