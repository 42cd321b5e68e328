CREATE TABLE "heavy_slots" (
	"job_id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"kind" "job_kind" NOT NULL,
	"acquired_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rate_limit_buckets" (
	"key" text PRIMARY KEY NOT NULL,
	"tokens" double precision NOT NULL,
	"refreshed_at" timestamp with time zone NOT NULL,
	"allowed" boolean NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "priority" integer DEFAULT 3 NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "max_active_jobs" integer;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "max_running_heavy" integer;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "highest_priority" integer;--> statement-breakpoint
ALTER TABLE "heavy_slots" ADD CONSTRAINT "heavy_slots_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "heavy_slots_user_idx" ON "heavy_slots" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "jobs_user_active_idx" ON "jobs" USING btree ("user_id") WHERE "jobs"."state" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "jobs_queued_kind_idx" ON "jobs" USING btree ("kind") WHERE "jobs"."state" = 'queued';