CREATE TABLE "customers" (
	"id" bigint PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"email" text NOT NULL,
	"country" text NOT NULL,
	"signed_up_at" timestamp with time zone NOT NULL,
	"lifetime_value" numeric(12, 2) NOT NULL,
	"note" text
);
--> statement-breakpoint
CREATE INDEX "customers_tenant_id_idx" ON "customers" USING btree ("tenant_id","id");