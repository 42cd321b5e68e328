-- The outbox relay (src/outbox/relay.ts) listens on offload_outbox: a job recorded without a started
-- workflow wakes it when its transaction commits. No payload: the relay reads the rows it starts, and
-- notifications without one fold into a single wake-up per transaction.
CREATE OR REPLACE FUNCTION offload_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('offload_outbox', '');
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER jobs_outbox_notify AFTER INSERT ON "jobs"
  FOR EACH ROW WHEN (NEW.state = 'queued' AND NEW.workflow_started_at IS NULL)
  EXECUTE FUNCTION offload_outbox_notify();
