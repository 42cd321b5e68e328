/** The delivery log: one row per attempt to deliver a notification about a job. */
import { eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { deliveries } from './schema.js';

export type DeliveryRow = typeof deliveries.$inferSelect;
export type NewDelivery = Omit<typeof deliveries.$inferInsert, 'id' | 'at'>;

export async function recordDelivery(db: Db, d: NewDelivery): Promise<void> {
  await db.insert(deliveries).values(d);
}

export async function listDeliveries(db: Db, jobId: string): Promise<DeliveryRow[]> {
  return db.select().from(deliveries).where(eq(deliveries.jobId, jobId)).orderBy(deliveries.id);
}
