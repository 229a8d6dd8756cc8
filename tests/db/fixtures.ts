/**
 * Helpers for the database tests: a throwaway business with one SMS-ready customer, and a way to
 * keep the `process-sms-retries` cron job from claiming rows while a test owns the queue.
 */
import type postgres from "postgres";

/** A business of its own with one opted-in customer; `drop()` deletes all of it (cascade). */
export interface ScratchTenant {
  businessId: string;
  customerId: string;
  drop(): Promise<void>;
}

/** Creates a business and an opted-in customer with a valid number, as the table owner. */
export async function scratchTenant(sql: postgres.Sql, label: string): Promise<ScratchTenant> {
  const businessId = crypto.randomUUID();
  const customerId = crypto.randomUUID();
  await sql`
    insert into public.businesses (id, name, sms_help_contact)
    values (${businessId}, ${`test ${label}`}, 'help@test.test')`;
  await sql`
    insert into public.customers (id, business_id, name, phone, phone_status, sms_consent_status,
                                  sms_consent_at)
    values (${customerId}, ${businessId}, 'Test Customer', '+12125550177', 'valid', 'opted_in',
            now())`;
  return {
    businessId,
    customerId,
    async drop() {
      await sql`delete from public.businesses where id = ${businessId}`;
    },
  };
}

/**
 * Pauses the `process-sms-retries` cron job (when it exists) while `fn` runs, so the real worker
 * cannot claim the test's rows; restores its previous state afterwards.
 */
export async function withCronPaused<T>(sql: postgres.Sql, fn: () => Promise<T>): Promise<T> {
  const jobs = await sql<{ jobid: string; active: boolean }[]>`
    select jobid::text, active from cron.job where jobname = 'process-sms-retries'`;
  for (const j of jobs) await sql`select cron.alter_job(${j.jobid}::bigint, active => false)`;
  try {
    return await fn();
  } finally {
    for (const j of jobs) {
      await sql`select cron.alter_job(${j.jobid}::bigint, active => ${j.active})`;
    }
  }
}
