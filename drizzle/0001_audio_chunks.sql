CREATE TABLE "audio_chunks" (
	"job_id" text NOT NULL,
	"chunk_index" integer NOT NULL,
	"attempt" integer NOT NULL,
	"worker" text NOT NULL,
	"characters" integer NOT NULL,
	"samples" integer NOT NULL,
	"synthesized_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audio_chunks_job_id_chunk_index_attempt_pk" PRIMARY KEY("job_id","chunk_index","attempt")
);
--> statement-breakpoint
ALTER TABLE "audio_chunks" ADD CONSTRAINT "audio_chunks_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;