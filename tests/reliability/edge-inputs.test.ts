/**
 * Inputs at the edges of what Postgres stores, sent by Twilio itself (signed) about real
 * customers and messages, where the fuzzer's random numbers and sids stop short (an unknown
 * number's reply stores nothing): U+0000 in a reply, and text truncated for the evidence exactly
 * where an emoji's two UTF-16 halves meet.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "@shared/twilio/signature.ts";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import {
  answerOf,
  info,
  makeTenant,
  postStatus,
  SEND_SMS_URL,
  signForm,
  WEBHOOK_URL,
  zoneAtLocalHour,
} from "./support.ts";

async function reply(from: string, body: string) {
  const sid = `SM${crypto.randomUUID().replaceAll("-", "")}`;
  const form = new URLSearchParams({
    MessageSid: sid,
    SmsSid: sid,
    AccountSid: info.twilio.accountSid,
    From: from,
    To: info.twilio.phoneNumber,
    Body: body,
    NumMedia: "0",
    SmsStatus: "received",
    ApiVersion: "2010-04-01",
  }).toString();
  const a = await answerOf(
    await fetch(WEBHOOK_URL, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signForm(WEBHOOK_URL, form),
      },
      body: form,
    }),
  );
  return { sid, ...a };
}

Deno.test("edge inputs: NUL and split surrogates in replies and callbacks are stored, never a 500", async () => {
  const sql = db(2);
  const tenant = await makeTenant(sql, "edge", [
    { timeZone: zoneAtLocalHour(13) },
    { timeZone: zoneAtLocalHour(13) },
  ]);
  const [a, b] = tenant.customers;
  try {
    await withCronPaused(sql, async () => {
      // A reply longer than the 320 units kept as evidence, an emoji straddling the cut.
      const long = reply(a.phone, "x" + "😀".repeat(400));
      const r1 = await long;
      assert.equal(r1.status, 200, r1.text);
      const [stored] = await sql`
        select count(*)::int as n from public.sms_inbound_messages where message_sid = ${r1.sid}`;
      assert.equal(stored.n, 1, "the reply is stored");

      // A JSON body (signed through bodySHA256) may even carry a lone surrogate.
      const jsonSid = `SM${crypto.randomUUID().replaceAll("-", "")}`;
      const json = JSON.stringify({
        MessageSid: jsonSid,
        AccountSid: info.twilio.accountSid,
        From: a.phone,
        To: info.twilio.phoneNumber,
        Body: "hi \ud83d there",
        SmsStatus: "received",
      });
      const url = `${WEBHOOK_URL}?bodySHA256=${await sha256Hex(json)}`;
      const r3 = await answerOf(
        await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "x-twilio-signature": signForm(url, "") },
          body: json,
        }),
      );
      assert.equal(r3.status, 200, r3.text);

      // STOP with a NUL in it is still STOP.
      const r2 = await reply(b.phone, "STOP\u0000");
      assert.equal(r2.status, 200, r2.text);
      const [c] = await sql`select sms_consent_status from public.customers where id = ${b.id}`;
      assert.equal(c.sms_consent_status, "opted_out");

      // A status callback whose kept text is cut inside an emoji, and one with a NUL.
      const sent = await answerOf(
        await fetch(SEND_SMS_URL, {
          method: "POST",
          headers: {
            authorization: `Bearer ${info.tokens.users["owner@acme.test"]}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ customerId: a.id, body: `edge ${crypto.randomUUID()}` }),
        }),
      );
      assert.equal(sent.status, 200, sent.text);
      const sid = (sent.json as { providerMessageId: string }).providerMessageId;
      const cb1 = await postStatus(sid, "sent", { ChannelStatusMessage: "x" + "😀".repeat(150) });
      assert.equal(cb1.status, 200, cb1.text);
      const cb2 = await postStatus(sid, "undelivered", {
        ErrorCode: "30003",
        ErrorMessage: "Unreachable\u0000handset",
      });
      assert.equal(cb2.status, 200, cb2.text);
    });
  } finally {
    await tenant.drop();
    await sql.end();
  }
});
