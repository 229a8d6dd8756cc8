import assert from "node:assert/strict";
import { asService, createDb } from "@shared/runtime/db.ts";
import { applyProviderError, recordSendResult } from "@shared/store.ts";
import { classifyTwilioError } from "@shared/twilio/errors.ts";
import { stack } from "../support/stack.ts";

Deno.test("applyProviderError opts out on 21610 and skips errors with no effect", async () => {
  const info = stack();
  const sql = createDb(info.dbUrl, { max: 1 });
  const acme = info.seed.businesses[0].id;
  try {
    await sql.begin(async (tx) => {
      const [customer] = await tx`
        insert into public.customers (business_id, name, phone, phone_status, sms_consent_status)
        values (${acme}, 'Effects Test', '+12125559901', 'valid', 'opted_in') returning id`;
      const [log] = await tx`
        insert into public.send_logs (business_id, customer_id, channel, status, to_phone)
        values (${acme}, ${customer.id}, 'sms', 'sent', '+12125559901') returning id`;
      await tx`select set_config('role', 'service_role', true)`;

      const none = await applyProviderError(tx, {
        sendLogId: log.id,
        classification: classifyTwilioError({ httpStatus: 503 }),
      });
      assert.equal(none.consentChanged, false);

      const optOut = await applyProviderError(tx, {
        sendLogId: log.id,
        classification: classifyTwilioError({ code: 21610, httpStatus: 400 }),
        messageSid: "SM" + "1".repeat(32),
      });
      assert.equal(optOut.consentChanged, true);
      const [after] = await tx`select sms_consent_status from public.customers
                                where id = ${customer.id}`;
      assert.equal(after.sms_consent_status, "opted_out");
      throw new Error("rollback");
    }).catch((e) => {
      if (e.message !== "rollback") throw e;
    });
    // asService is the production path: the RPC is refused to nobody it is granted to.
    const ok = await asService(sql, async (tx) => {
      const [r] = await tx`select has_function_privilege(
        'sms.apply_provider_error(uuid, integer, text, text, text)', 'execute') as ok`;
      return r.ok;
    });
    assert.equal(ok, true);
  } finally {
    await sql.end();
  }
});

Deno.test("recordSendResult applies the effect of an error callback that arrived first", async () => {
  const info = stack();
  const sql = createDb(info.dbUrl, { max: 1 });
  const acme = info.seed.businesses[0].id;
  const sid = "SM" + crypto.randomUUID().replaceAll("-", "");
  try {
    await sql.begin(async (tx) => {
      const [customer] = await tx`
        insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                      time_zone, us_state)
        values (${acme}, 'Early Callback', '+12125559902', 'valid', 'opted_in',
                'America/New_York', 'NY') returning id`;
      await tx`select set_config('role', 'service_role', true)`;
      const [log] = await tx`select id from sms.create_send_log(
        ${customer.id}::uuid, 1, 'GSM-7', null, 'sending')`;
      // Twilio's failure callback beats our own write of the sid.
      await tx`select 1 from sms.record_status_event(${sid}, 'failed', 21610)`;
      await recordSendResult(tx, {
        sendLogId: log.id,
        result: { sid, status: "queued", segments: 1 },
      });
      const [after] = await tx`
        select c.sms_consent_status, l.status, l.error_code
          from public.customers c join public.send_logs l on l.customer_id = c.id
         where l.id = ${log.id}`;
      assert.deepEqual(
        [after.sms_consent_status, after.status, after.error_code],
        ["opted_out", "failed", 21610],
      );
      throw new Error("rollback");
    }).catch((e) => {
      if (e.message !== "rollback") throw e;
    });
  } finally {
    await sql.end();
  }
});
