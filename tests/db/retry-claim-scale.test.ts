/**
 * The due-row scan stays cheap at a million rows: with 1,000,000 queue rows (mostly finished
 * history), a claim of 50 reads the partial indexes in order and never scans the table. Measured
 * with the transaction's own table statistics (pg_stat_xact_user_tables), inside a transaction
 * that is rolled back.
 */
import assert from "node:assert/strict";
import { db } from "../support/stack.ts";

const TOTAL = 1_000_000;
const DUE = 1_000;
const FUTURE = 9_000;
const LEASED = 100;

interface Scans {
  seq_scan: number;
  idx_scan: number;
  idx_tup_fetch: number;
}

Deno.test({
  name: "claim at a million rows reads the partial indexes, not the table (slow)",
  async fn() {
    const sql = db(1);
    const rollback = new Error("rollback");
    try {
      await sql.begin(async (tx) => {
        const [{ id: businessId }] = await tx<{ id: string }[]>`
          insert into public.businesses (name) values ('scale test') returning id`;
        const [{ id: custId }] = await tx<{ id: string }[]>`
          insert into public.customers (business_id, name, phone, phone_status,
                                        sms_consent_status)
          values (${businessId}, 'Scale', '+12125550188', 'valid', 'opted_in') returning id`;

        const started = performance.now();
        // The rows the claim can touch (due, future, leased) get real send logs.
        const live = DUE + FUTURE + LEASED;
        await tx`
          insert into public.send_logs (id, business_id, channel, customer_id, to_phone, status)
          select ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ${businessId},
                 'sms', ${custId}, '+12125550188', 'deferred'
            from generate_series(1, ${live}) as i`;
        // History in bulk, without per-row triggers and foreign-key checks: the claim never reads
        // the send log of a finished row, so those point at no real log (all of it is rolled
        // back). Ids ascend so the load appends to the indexes instead of thrashing them.
        await tx`set local session_replication_role = replica`;
        await tx`
          insert into sms.retry_queue
            (id, business_id, customer_id, send_log_id, body, reason, status, attempts,
             scheduled_for, lease_expires_at, locked_by, finished_at)
          select ('00000000-0000-4000-8000-' || lpad(to_hex(n.i), 12, '0'))::uuid, ${businessId},
                 ${custId}, ('00000000-0000-4000-8000-' || lpad(to_hex(n.i), 12, '0'))::uuid,
                 'scale', 'quiet_hours', s.status,
                 case when s.status = 'pending' then 0 else 1 end,
                 case when n.i <= ${DUE} then now() - n.i * interval '1 second'
                      when n.i <= ${DUE + FUTURE} then now() + n.i * interval '1 second'
                      else now() - n.i * interval '1 second' end,
                 case when s.status = 'processing' then now() + interval '5 minutes' end,
                 case when s.status = 'processing' then 'someone' end,
                 case when s.status in ('completed', 'failed', 'cancelled') then now() end
            from generate_series(1, ${TOTAL}) as n (i)
            cross join lateral (
              select case
                when n.i <= ${DUE + FUTURE} then 'pending'
                when n.i <= ${live} then 'processing'
                else (array['completed', 'failed', 'cancelled'])[1 + n.i % 3]
              end as status) s`;
        await tx`set local session_replication_role = origin`;
        await tx`analyze sms.retry_queue`;
        console.log(`loaded ${TOTAL} rows in ${(performance.now() - started).toFixed(0)} ms`);

        const scans = async () =>
          (await tx<Scans[]>`
            select seq_scan::int, idx_scan::int, idx_tup_fetch::int
              from pg_stat_xact_user_tables where relid = 'sms.retry_queue'::regclass`)[0];

        const before = await scans();
        const t0 = performance.now();
        const claimed = await tx<{ id: string; scheduled_for: Date }[]>`
          select id, scheduled_for from sms.claim_due_retries(50, 60, 'scale-worker')`;
        const ms = performance.now() - t0;
        const after = await scans();
        console.log(
          `claim of 50 took ${ms.toFixed(1)} ms; seq scans +${after.seq_scan - before.seq_scan}, ` +
            `index scans +${after.idx_scan - before.idx_scan}, ` +
            `rows fetched by index +${after.idx_tup_fetch - before.idx_tup_fetch}`,
        );

        assert.equal(claimed.length, 50, "a full batch of due rows");
        const oldest = await tx<{ id: string }[]>`
          select id from sms.retry_queue
           where business_id = ${businessId} and status = 'processing' and locked_by = 'scale-worker'
           order by scheduled_for limit 50`;
        assert.deepEqual(
          new Set(claimed.map((r) => r.id)),
          new Set(oldest.map((r) => r.id)),
          "the claimed rows are the 50 oldest due ones",
        );
        assert.equal(after.seq_scan - before.seq_scan, 0, "no sequential scan of the queue");
        assert.ok(after.idx_scan - before.idx_scan >= 2, "both partial indexes were used");
        assert.ok(
          after.idx_tup_fetch - before.idx_tup_fetch < 1_000,
          "only a handful of rows were read, not the million",
        );
        throw rollback;
      });
    } catch (e) {
      if (e !== rollback) throw e;
    } finally {
      await sql.end();
    }
  },
});
