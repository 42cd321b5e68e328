CREATE TABLE "job_backlog" (
	"shard" integer PRIMARY KEY NOT NULL,
	"queued" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "user_active_jobs" (
	"user_id" text NOT NULL,
	"shard" integer NOT NULL,
	"active" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "user_active_jobs_user_id_shard_pk" PRIMARY KEY("user_id","shard")
);

--> statement-breakpoint
INSERT INTO "job_backlog" ("shard") SELECT s FROM generate_series(0, 15) AS s;
--> statement-breakpoint
-- Moves a job's contribution when it is inserted, changes state or is deleted: +1/-1 on the backlog
-- shard of its id while it is queued, on its user's row of that shard while it is queued or running. A
-- job's id and user never change, so an update only moves between states.
CREATE FUNCTION job_counts_track() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  DECLARE
    was_queued integer := 0;
    was_active integer := 0;
    is_queued integer := 0;
    is_active integer := 0;
    j jobs;
  BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      was_queued := (OLD.state = 'queued')::integer;
      was_active := (OLD.state IN ('queued', 'running'))::integer;
      j := OLD;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
      is_queued := (NEW.state = 'queued')::integer;
      is_active := (NEW.state IN ('queued', 'running'))::integer;
      j := NEW;
    END IF;
    IF is_queued <> was_queued THEN
      UPDATE job_backlog SET queued = queued + is_queued - was_queued WHERE shard = hashtext(j.id) & 15;
    END IF;
    IF is_active <> was_active THEN
      INSERT INTO user_active_jobs AS u (user_id, shard, active)
        VALUES (j.user_id, hashtext(j.id) & 15, is_active - was_active)
        ON CONFLICT (user_id, shard) DO UPDATE SET active = u.active + is_active - was_active;
    END IF;
    RETURN NULL;
  END
  $$;
--> statement-breakpoint
-- The triggers come before the backfill: creating one locks jobs against writes until this migration
-- commits, so no job can change between the backfill's read and the triggers taking over.
CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs FOR EACH ROW
  WHEN (NEW.state IN ('queued', 'running'))
  EXECUTE FUNCTION job_counts_track();
--> statement-breakpoint
CREATE TRIGGER job_counts_update AFTER UPDATE OF state ON jobs FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state
    AND (OLD.state IN ('queued', 'running') OR NEW.state IN ('queued', 'running')))
  EXECUTE FUNCTION job_counts_track();
--> statement-breakpoint
CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs FOR EACH ROW
  WHEN (OLD.state IN ('queued', 'running'))
  EXECUTE FUNCTION job_counts_track();
--> statement-breakpoint
UPDATE job_backlog AS b SET queued = c.n
  FROM (SELECT hashtext(id) & 15 AS shard, count(*)::integer AS n FROM jobs WHERE state = 'queued' GROUP BY 1) AS c
  WHERE b.shard = c.shard;
--> statement-breakpoint
INSERT INTO user_active_jobs (user_id, shard, active)
  SELECT user_id, hashtext(id) & 15, count(*)::integer FROM jobs WHERE state IN ('queued', 'running')
  GROUP BY 1, 2;
