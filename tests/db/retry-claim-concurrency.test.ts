/**
 * The retry queue's claim under real concurrency: 8 connections claim 5,000 due rows in batches
 * of 50 at the same time. Every row must be claimed exactly once and none left behind. A second
 * round does the same with 5,000 expired leases, which the claim must reclaim exactly once too.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { db } from "../support/stack.ts";
import { scratchTenant, withCronPaused } from "./fixtures.ts";

const WORKERS = 8;
const ROWS = 5_000;
const BATCH = 50;

interface Claimed {
  worker: string;
  ids: string[];
  batches: number[];
}

/** Fills the queue with ROWS due rows (each with its deferred SMS send log) for the tenant. */
async function fillQueue(sql: postgres.Sql, businessId: string, customerId: string) {
  await sql`
    with logs as (
      insert into public.send_logs (business_id, channel, customer_id, to_phone, status)
      select ${businessId}, 'sms', ${customerId}, '+12125550177', 'deferred'
        from generate_series(1, ${ROWS})
      returning id
    )
    insert into sms.retry_queue
      (business_id, customer_id, send_log_id, body, reason, scheduled_for)
    select ${businessId}, ${customerId}, logs.id, 'concurrency test', 'rate_limited',
           now() - random() * interval '1 hour'
      from logs`;
}

/** Starts WORKERS connections together; each claims batches until the claim comes back empty. */
async function claimAll(conns: postgres.Sql[], prefix: string): Promise<Claimed[]> {
  // Open every connection first, so the claims start together rather than as connections come up.
  await Promise.all(conns.map((c) => c`select 1`));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const runs = conns.map(async (c, i): Promise<Claimed> => {
    const worker = `${prefix}-${i}`;
    const out: Claimed = { worker, ids: [], batches: [] };
    await gate;
    while (true) {
      const rows = await c<{ id: string }[]>`
        select id from sms.claim_due_retries(${BATCH}, 300, ${worker})`;
      if (rows.length === 0) return out;
      out.batches.push(rows.length);
      for (const r of rows) out.ids.push(r.id);
    }
  });
  release();
  return await Promise.all(runs);
}

function assertExactlyOnce(results: Claimed[], expected: Set<string>) {
  const all = results.flatMap((r) => r.ids);
  const ours = all.filter((id) => expected.has(id));
  assert.equal(new Set(ours).size, ours.length, "no row was handed out twice");
  assert.equal(ours.length, ROWS, "every row was claimed");
  for (const r of results) {
    assert.ok(r.batches.every((n) => n >= 1 && n <= BATCH), "batches hold 1..50 rows");
  }
  const busy = results.filter((r) => r.ids.length > 0).length;
  assert.ok(busy >= 2, `the work was shared between workers (${busy} of ${WORKERS} claimed)`);
}

Deno.test("8 connections claim 5,000 due rows (batches of 50): each exactly once, none left", async () => {
  const sql = db(2);
  const conns = Array.from({ length: WORKERS }, () => db(1));
  const tenant = await scratchTenant(sql, "claim concurrency");
  try {
    await withCronPaused(sql, async () => {
      await fillQueue(sql, tenant.businessId, tenant.customerId);
      const ids = new Set(
        (await sql<{ id: string }[]>`
          select id from sms.retry_queue where business_id = ${tenant.businessId}`)
          .map((r) => r.id),
      );
      assert.equal(ids.size, ROWS);

      const started = performance.now();
      const results = await claimAll(conns, "claim");
      const ms = performance.now() - started;
      console.log(
        `claimed ${ROWS} rows in ${ms.toFixed(0)} ms: ` +
          results.map((r) => `${r.worker}=${r.ids.length}`).join(" "),
      );
      assertExactlyOnce(results, ids);

      // The database agrees: every row processing, attempt 1, held by the worker that got it.
      const owner = new Map<string, string>();
      for (const r of results) for (const id of r.ids) owner.set(id, r.worker);
      const rows = await sql<
        { id: string; status: string; attempts: number; locked_by: string; leased: boolean }[]
      >`
        select id, status, attempts, locked_by, lease_expires_at > now() as leased
          from sms.retry_queue where business_id = ${tenant.businessId}`;
      assert.equal(rows.length, ROWS);
      for (const row of rows) {
        assert.equal(row.status, "processing", `row ${row.id} is processing`);
        assert.equal(row.attempts, 1, `row ${row.id} was claimed once`);
        assert.equal(row.locked_by, owner.get(row.id), `row ${row.id} is held by its claimer`);
        assert.ok(row.leased, `row ${row.id} has a live lease`);
      }
      const [left] = await sql<{ n: number }[]>`
        select count(*)::int as n from sms.retry_queue
         where business_id = ${tenant.businessId} and status = 'pending'`;
      assert.equal(left.n, 0, "no row is left pending");

      // Round two: every lease expires (all workers "crashed"); the reclaim is exactly-once too.
      await sql`
        update sms.retry_queue set lease_expires_at = now() - interval '1 second'
         where business_id = ${tenant.businessId}`;
      const again = await claimAll(conns, "reclaim");
      assertExactlyOnce(again, ids);
      const [after] = await sql<{ n: number }[]>`
        select count(*)::int as n from sms.retry_queue
         where business_id = ${tenant.businessId}
           and (status <> 'processing' or attempts <> 2 or locked_by not like 'reclaim-%')`;
      assert.equal(after.n, 0, "every expired row was reclaimed once, as attempt 2");
    });
  } finally {
    await tenant.drop();
    await Promise.all(conns.map((c) => c.end()));
    await sql.end();
  }
});
