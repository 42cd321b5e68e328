CREATE TABLE "job_stats" (
	"kind" text NOT NULL,
	"state" "job_state" NOT NULL,
	"shard" integer NOT NULL,
	"jobs" bigint DEFAULT 0 NOT NULL,
	"bytes" numeric DEFAULT '0' NOT NULL,
	"wait_count" bigint DEFAULT 0 NOT NULL,
	"wait_sum" double precision DEFAULT 0 NOT NULL,
	"wait_buckets" bigint[] NOT NULL,
	"duration_count" bigint DEFAULT 0 NOT NULL,
	"duration_sum" double precision DEFAULT 0 NOT NULL,
	"duration_buckets" bigint[] NOT NULL,
	CONSTRAINT "job_stats_kind_state_shard_pk" PRIMARY KEY("kind","state","shard")
);
--> statement-breakpoint
-- The histogram bounds of /metrics' job histograms, in seconds. Changing them takes a migration that
-- replaces this function and rebuilds job_stats (the bucket arrays have one slot per bound plus one).
CREATE FUNCTION job_stats_bounds() RETURNS double precision[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT '{0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,600,1800,3600,7200}'::double precision[] $$;
--> statement-breakpoint
-- The 1-based bucket of a value: the first bound it does not exceed, or the last slot (above every
-- bound); null for null.
CREATE FUNCTION job_stats_bucket(v double precision) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN v IS NULL THEN NULL
    ELSE 1 + (SELECT count(*)::integer FROM unnest(job_stats_bounds()) AS b WHERE b < v) END $$;
--> statement-breakpoint
-- Add (sign 1) or remove (sign -1) one terminal job's contribution, in the job's shard (a hash of its
-- id: two transactions ending jobs at once rarely wait on each other's counter row, and a job's later
-- changes find its contribution in the same row). A plain UPDATE of two array elements: about as cheap
-- as the job's own UPDATE.
CREATE FUNCTION job_stats_apply(j jobs, sign integer) RETURNS void
  LANGUAGE plpgsql
  AS $$
  DECLARE
    bounds CONSTANT double precision[] := job_stats_bounds();
    v_wait CONSTANT double precision := extract(epoch FROM j.started_at - j.created_at);
    v_duration CONSTANT double precision := extract(epoch FROM j.finished_at - j.started_at);
    v_bytes CONSTANT numeric := CASE WHEN jsonb_typeof(j.result -> 'bytes') = 'number'
      THEN (j.result ->> 'bytes')::numeric ELSE 0 END;
    v_shard CONSTANT integer := hashtext(j.id) & 15;
    -- The buckets of the wait and the duration (1-based, as job_stats_bucket; 1 when null, counted 0).
    wb integer := 1;
    db integer := 1;
  BEGIN
    IF v_wait IS NOT NULL THEN
      WHILE wb <= cardinality(bounds) AND bounds[wb] < v_wait LOOP wb := wb + 1; END LOOP;
    END IF;
    IF v_duration IS NOT NULL THEN
      WHILE db <= cardinality(bounds) AND bounds[db] < v_duration LOOP db := db + 1; END LOOP;
    END IF;
    FOR attempt IN 1..2 LOOP
      UPDATE job_stats AS s SET
        jobs = s.jobs + sign,
        bytes = s.bytes + sign * v_bytes,
        wait_count = s.wait_count + sign * (v_wait IS NOT NULL)::integer,
        wait_sum = s.wait_sum + sign * coalesce(v_wait, 0),
        wait_buckets[wb] = s.wait_buckets[wb] + sign * (v_wait IS NOT NULL)::integer,
        duration_count = s.duration_count + sign * (v_duration IS NOT NULL)::integer,
        duration_sum = s.duration_sum + sign * coalesce(v_duration, 0),
        duration_buckets[db] = s.duration_buckets[db] + sign * (v_duration IS NOT NULL)::integer
      WHERE s.kind = j.kind AND s.state = j.state AND s.shard = v_shard;
      EXIT WHEN FOUND;
      -- First job of this kind and state in this shard: create the row, then update it.
      INSERT INTO job_stats (kind, state, shard, wait_buckets, duration_buckets)
      VALUES (j.kind, j.state, v_shard, array_fill(0::bigint, ARRAY[cardinality(bounds) + 1]),
              array_fill(0::bigint, ARRAY[cardinality(bounds) + 1]))
      ON CONFLICT DO NOTHING;
    END LOOP;
  END
  $$;
--> statement-breakpoint
-- Keeps job_stats equal to an aggregate over the terminal rows of jobs: a row that is or was terminal
-- and whose contribution changed has the old one removed and the new one added (the triggers' WHEN
-- clauses let every other write through without a call).
CREATE FUNCTION job_stats_track() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
  BEGIN
    IF TG_OP = 'UPDATE' THEN
      IF (OLD.kind, OLD.state, OLD.created_at, OLD.started_at, OLD.finished_at, OLD.result -> 'bytes')
         IS NOT DISTINCT FROM
         (NEW.kind, NEW.state, NEW.created_at, NEW.started_at, NEW.finished_at, NEW.result -> 'bytes') THEN
        RETURN NULL;
      END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      IF OLD.state IN ('succeeded', 'failed', 'cancelled', 'expired') THEN
        PERFORM job_stats_apply(OLD, -1);
      END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
      IF NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired') THEN
        PERFORM job_stats_apply(NEW, 1);
      END IF;
    END IF;
    RETURN NULL;
  END
  $$;
--> statement-breakpoint
-- The triggers come before the backfill: creating one locks jobs against writes until this migration
-- commits, so no job can end between the backfill's read and the triggers taking over.
CREATE TRIGGER job_stats_insert AFTER INSERT ON jobs FOR EACH ROW
  WHEN (NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired'))
  EXECUTE FUNCTION job_stats_track();
--> statement-breakpoint
CREATE TRIGGER job_stats_update AFTER UPDATE ON jobs FOR EACH ROW
  WHEN (OLD.state IN ('succeeded', 'failed', 'cancelled', 'expired')
     OR NEW.state IN ('succeeded', 'failed', 'cancelled', 'expired'))
  EXECUTE FUNCTION job_stats_track();
--> statement-breakpoint
CREATE TRIGGER job_stats_delete AFTER DELETE ON jobs FOR EACH ROW
  WHEN (OLD.state IN ('succeeded', 'failed', 'cancelled', 'expired'))
  EXECUTE FUNCTION job_stats_track();
--> statement-breakpoint
-- The jobs that ended before this migration, in one pass over jobs, each into the shard the triggers
-- will find it in when it changes later (its buckets computed once, not once per bucket).
WITH t AS MATERIALIZED (
  SELECT kind, state, hashtext(id) & 15 AS shard,
    CASE WHEN jsonb_typeof(result -> 'bytes') = 'number' THEN (result ->> 'bytes')::numeric ELSE 0 END AS bytes,
    extract(epoch FROM started_at - created_at)::double precision AS wait,
    extract(epoch FROM finished_at - started_at)::double precision AS duration
  FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled', 'expired')
),
g AS (
  SELECT kind, state, shard, count(*) AS jobs, sum(bytes) AS bytes,
    count(wait) AS wait_count, coalesce(sum(wait), 0) AS wait_sum,
    count(duration) AS duration_count, coalesce(sum(duration), 0) AS duration_sum
  FROM t GROUP BY kind, state, shard
),
w AS (
  SELECT kind, state, shard, job_stats_bucket(wait) AS i, count(*) AS n
  FROM t WHERE wait IS NOT NULL GROUP BY 1, 2, 3, 4
),
d AS (
  SELECT kind, state, shard, job_stats_bucket(duration) AS i, count(*) AS n
  FROM t WHERE duration IS NOT NULL GROUP BY 1, 2, 3, 4
)
INSERT INTO job_stats (kind, state, shard, jobs, bytes, wait_count, wait_sum, wait_buckets,
  duration_count, duration_sum, duration_buckets)
SELECT g.kind, g.state, g.shard, g.jobs, g.bytes, g.wait_count, g.wait_sum,
  ARRAY(SELECT coalesce((SELECT w.n FROM w WHERE (w.kind, w.state, w.shard, w.i) = (g.kind, g.state, g.shard, s.i)), 0)
        FROM generate_series(1, cardinality(job_stats_bounds()) + 1) AS s(i) ORDER BY s.i),
  g.duration_count, g.duration_sum,
  ARRAY(SELECT coalesce((SELECT d.n FROM d WHERE (d.kind, d.state, d.shard, d.i) = (g.kind, g.state, g.shard, s.i)), 0)
        FROM generate_series(1, cardinality(job_stats_bounds()) + 1) AS s(i) ORDER BY s.i)
FROM g;
