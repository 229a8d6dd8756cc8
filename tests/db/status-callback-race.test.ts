/**
 * Twilio can post a status callback before send-sms has stored the message sid. Racing the two on
 * separate connections, for many messages at once: every callback ends up linked to its send log
 * and applied, whichever transaction wins.
 */
import assert from "node:assert/strict";
import { db } from "../support/stack.ts";
import { scratchTenant } from "./fixtures.ts";

const MESSAGES = 60;

/** A Twilio-shaped sid ("SM" + 32 hex), unique per run: the callback identity is global. */
const sidFor = (run: string, i: number) => `SM${run}${i.toString(16).padStart(24, "0")}`;

Deno.test("a callback racing the stored sid is never lost", async () => {
  const sql = db(2);
  const sender = db(4);
  const webhook = db(4);
  const tenant = await scratchTenant(sql, "callback race");
  try {
    const logs = await sql<{ id: string }[]>`
      select (sms.create_send_log(${tenant.customerId}, 1, 'GSM-7')).id
        from generate_series(1, ${MESSAGES})`;
    const run = crypto.randomUUID().slice(0, 8);
    const sids = logs.map((_, i) => sidFor(run, i));
    await Promise.all(logs.map(async (log, i) => {
      const jitter = () => new Promise((r) => setTimeout(r, Math.random() * 5));
      await Promise.all([
        jitter().then(() => sender`select sms.record_send_result(${log.id}, ${sids[i]}, 'queued')`),
        jitter().then(() =>
          webhook`select * from sms.record_status_event(${sids[i]}, 'delivered')`
        ),
      ]);
    }));

    const [state] = await sql<{ delivered: number; orphans: number; linked: number }[]>`
      select
        (select count(*)::int from public.send_logs
          where business_id = ${tenant.businessId} and status = 'delivered') as delivered,
        (select count(*)::int from public.sms_message_events
          where message_sid = any (${sids}) and send_log_id is null) as orphans,
        (select count(*)::int from public.sms_message_events
          where message_sid = any (${sids}) and source = 'callback'
            and business_id = ${tenant.businessId}) as linked`;
    assert.equal(state.orphans, 0, "no callback is left unattributed");
    assert.equal(state.linked, MESSAGES, "every callback is linked to its log and business");
    assert.equal(state.delivered, MESSAGES, "every log ends delivered");
  } finally {
    await tenant.drop();
    await Promise.all([sender.end(), webhook.end(), sql.end()]);
  }
});
