/**
 * twilio-webhook through the gateway: the signature is the only gate (both body forms, checked
 * by twilio's own signing), bad input is refused before anything is written, and status
 * callbacks move send logs forward and apply what Twilio's error codes mean.
 */
import assert from "node:assert/strict";
import { db, stack } from "../support/stack.ts";
import {
  eventually,
  newCustomer,
  newPhone,
  newSid,
  postForm,
  postJson,
  scratchBusiness,
  sentLog,
  statusParams,
} from "./twilio-webhook-support.ts";

const info = stack();
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

async function eventCount(sql: ReturnType<typeof db>, sid: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from public.sms_message_events
     where message_sid = ${sid} and source = 'callback'`;
  return row.n;
}

async function logRow(sql: ReturnType<typeof db>, id: string) {
  const [row] = await sql<{ status: string; error_code: number | null }[]>`
    select status, error_code from public.send_logs where id = ${id}`;
  return row;
}

function assertForbidden(answer: { status: number; text: string }, what: string) {
  assert.equal(answer.status, 403, what);
  assert.equal(JSON.parse(answer.text).error.code, "forbidden", what);
}

Deno.test("signed requests are accepted, form-encoded and JSON (bodySHA256)", async () => {
  const sql = db();
  const biz = await scratchBusiness(sql, "webhook signature");
  try {
    const customer = await newCustomer(sql, biz.id);
    const sid = newSid();
    const logId = await sentLog(sql, customer.id, sid);

    const form = await postForm(statusParams(sid, "sent"), { idempotencyToken: "tok-sent-1" });
    assert.equal(form.status, 200);
    assert.match(form.contentType ?? "", /^text\/xml/);
    assert.equal(form.text, EMPTY_TWIML);
    assert.equal((await logRow(sql, logId)).status, "sent");
    const [event] = await sql<{ payload: Record<string, string> }[]>`
      select payload from public.sms_message_events
       where message_sid = ${sid} and provider_status = 'sent'`;
    assert.equal(event.payload.IdempotencyToken, "tok-sent-1", "the token is kept with the event");
    assert.equal(event.payload.To, undefined, "phone numbers are not copied into the event");

    const json = await postJson(JSON.stringify(statusParams(sid, "delivered")));
    assert.equal(json.status, 200, json.text);
    assert.equal(json.text, EMPTY_TWIML);
    assert.equal((await logRow(sql, logId)).status, "delivered");
    assert.equal(await eventCount(sql, sid), 2);
  } finally {
    await biz.drop();
    await sql.end();
  }
});

Deno.test("a changed parameter, URL or token → 403 and nothing written", async () => {
  const sql = db();
  const biz = await scratchBusiness(sql, "webhook forgery");
  try {
    const customer = await newCustomer(sql, biz.id);
    const sid = newSid();
    const logId = await sentLog(sql, customer.id, sid);
    const params = statusParams(sid, "delivered");
    const internalUrl = `http://127.0.0.1:${
      info.functions.find((f) => f.name === "twilio-webhook")!.port
    }/twilio-webhook`;

    const forged = {
      "a changed parameter": await postForm(params, {
        postParams: { ...params, MessageStatus: "failed" },
      }),
      "an added parameter": await postForm(params, {
        postParams: { ...params, ErrorCode: "21610" },
      }),
      "a removed parameter": await postForm(params, {
        postParams: Object.fromEntries(Object.entries(params).filter(([k]) => k !== "To")),
      }),
      "another URL (the function's own address)": await postForm(params, { signUrl: internalUrl }),
      "another path": await postForm(params, { signUrl: `${info.twilio.webhookUrl}-other` }),
      "another token": await postForm(params, { token: "0".repeat(32) }),
      "no signature": await postForm(params, { signature: null }),
      "an empty signature": await postForm(params, { signature: "" }),
      "garbage": await postForm(params, { signature: "not base64 at all" }),
      "JSON: a changed body": await postJson(JSON.stringify(params), {
        postBody: JSON.stringify({ ...params, MessageStatus: "read" }),
      }),
      "JSON: another URL": await postJson(JSON.stringify(params), { signUrl: internalUrl }),
      "JSON: another token": await postJson(JSON.stringify(params), { token: "1".repeat(32) }),
      "JSON: no bodySHA256 (URL alone signed)": await postJson(JSON.stringify(params), {
        noHash: true,
      }),
    };
    for (const [what, answer] of Object.entries(forged)) assertForbidden(answer, what);
    assert.equal(await eventCount(sql, sid), 0, "no event recorded");
    assert.equal((await logRow(sql, logId)).status, "sending", "the log did not move");

    // A forged STOP changes nobody's consent and stores nothing.
    const from = customer.phone;
    const stop = await postForm(
      { ...statusParams(sid, "received"), Body: "STOP", From: from, To: info.twilio.phoneNumber },
      { token: "2".repeat(32) },
    );
    assertForbidden(stop, "forged inbound");
    const [c] = await sql<{ sms_consent_status: string }[]>`
      select sms_consent_status from public.customers where id = ${customer.id}`;
    assert.equal(c.sms_consent_status, "opted_in");
    const [inbound] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.sms_inbound_messages where from_phone = ${from}`;
    assert.equal(inbound.n, 0);
  } finally {
    await biz.drop();
    await sql.end();
  }
});

Deno.test("oversized or malformed bodies → 400 and nothing written", async () => {
  const sql = db();
  const biz = await scratchBusiness(sql, "webhook malformed");
  try {
    const customer = await newCustomer(sql, biz.id);
    const sid = newSid();
    const logId = await sentLog(sql, customer.id, sid);
    const params = statusParams(sid, "delivered");

    const huge = await postForm({ ...params, Padding: "x".repeat(70 * 1024) });
    assert.equal(huge.status, 400, "over 64 KiB, even correctly signed");
    assert.equal(JSON.parse(huge.text).error.code, "invalid_request");

    const bad = {
      "an unknown status": await postForm({ ...params, MessageStatus: "exploded" }),
      "a malformed sid": await postForm({ ...params, MessageSid: "SM123" }),
      "a non-numeric ErrorCode": await postForm({ ...params, ErrorCode: "30x" }),
      "no AccountSid": await postForm(
        Object.fromEntries(Object.entries(params).filter(([k]) => k !== "AccountSid")),
      ),
      "JSON that is not JSON": await postJson("{MessageSid: "),
      "JSON that is not an object": await postJson(JSON.stringify([params])),
    };
    for (const [what, answer] of Object.entries(bad)) {
      assert.equal(answer.status, 400, what);
      assert.equal(JSON.parse(answer.text).error.code, "invalid_request", what);
    }
    const text = await fetch(info.twilio.webhookUrl, {
      method: "POST",
      headers: { "content-type": "text/plain", "x-twilio-signature": "x" },
      body: "MessageSid=" + sid,
    });
    assert.equal(text.status, 400, "an unsupported content type");
    await text.body?.cancel();
    const get = await fetch(info.twilio.webhookUrl);
    assert.equal(get.status, 400, "GET is not a webhook");
    await get.body?.cancel();

    assert.equal(await eventCount(sql, sid), 0);
    assert.equal((await logRow(sql, logId)).status, "sending");
  } finally {
    await biz.drop();
    await sql.end();
  }
});

Deno.test("an unknown MessageSid → 200, kept for a send log that may still store it", async () => {
  const sql = db();
  try {
    const sid = newSid();
    const answer = await postForm(statusParams(sid, "delivered"));
    assert.equal(answer.status, 200);
    assert.equal(answer.text, EMPTY_TWIML);
    const [event] = await sql<{ send_log_id: string | null }[]>`
      select send_log_id from public.sms_message_events where message_sid = ${sid}`;
    assert.equal(event.send_log_id, null, "recorded unattributed");
  } finally {
    await sql.end();
  }
});

Deno.test("status callbacks only move forward and a repeat is recorded once", async () => {
  const sql = db();
  const biz = await scratchBusiness(sql, "webhook forward");
  try {
    const customer = await newCustomer(sql, biz.id);
    const sid = newSid();
    const logId = await sentLog(sql, customer.id, sid);
    const post = (status: string, token: string, extra: Record<string, string> = {}) =>
      postForm(statusParams(sid, status, extra), { idempotencyToken: token });
    for (
      const [status, token] of [
        ["delivered", "t-d"],
        ["sent", "t-s"],
        ["delivered", "t-d"],
        ["queued", "t-q"],
        ["undelivered", "t-u"],
      ]
    ) {
      const answer = await post(
        status,
        token,
        status === "undelivered" ? { ErrorCode: "30003" } : {},
      );
      assert.equal(answer.status, 200);
    }
    const log = await logRow(sql, logId);
    assert.equal(log.status, "delivered", "never backwards, never sideways between terminals");
    const events = await sql<{ provider_status: string }[]>`
      select provider_status from public.sms_message_events
       where message_sid = ${sid} and source = 'callback' order by id`;
    assert.deepEqual(events.map((e) => e.provider_status), [
      "delivered",
      "sent",
      "queued",
      "undelivered",
    ]);
    // A read receipt is the one step past delivered.
    await post("read", "t-r");
    assert.equal((await logRow(sql, logId)).status, "read");
  } finally {
    await biz.drop();
    await sql.end();
  }
});

Deno.test("the sandbox's own signed callbacks, shuffled and duplicated, end delivered", async () => {
  const sql = db();
  const biz = await scratchBusiness(sql, "webhook sandbox");
  const config = await (await fetch(`${info.sandboxUrl}/api/config`)).json();
  try {
    await (await fetch(`${info.sandboxUrl}/api/config`, {
      method: "POST",
      body: JSON.stringify({ callbackOrder: "shuffled", duplicateRate: 1, callbackDelayMs: 5 }),
    })).body?.cancel();
    const customers = await Promise.all([1, 2, 3, 4, 5].map(() => newCustomer(sql, biz.id)));
    const logs: { logId: string; sid: string }[] = [];
    for (const c of customers) {
      const res = await fetch(
        `${info.sandboxUrl}/2010-04-01/Accounts/${info.twilio.accountSid}/Messages.json`,
        {
          method: "POST",
          headers: {
            authorization: "Basic " + btoa(`${info.twilio.accountSid}:${info.twilio.authToken}`),
            "content-type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams({
            To: c.phone,
            From: info.twilio.phoneNumber,
            Body: "Thanks for visiting!",
            StatusCallback: info.twilio.webhookUrl,
          }),
        },
      );
      assert.equal(res.status, 201);
      const { sid } = await res.json();
      // The callbacks may beat this: they are kept and linked when the sid is stored.
      logs.push({ logId: await sentLog(sql, c.id, sid), sid });
    }
    await eventually(async () => {
      const rows = await sql<{ status: string }[]>`
        select status from public.send_logs where id = any (${logs.map((l) => l.logId)})`;
      return rows.every((r) => r.status === "delivered");
    });
    // Every planned delivery (duplicates included) has been made and answered.
    const calls = await eventually(async () => {
      const messages = await (await fetch(`${info.sandboxUrl}/api/messages`)).json();
      const ours = messages.filter((m: { sid: string }) => logs.some((l) => l.sid === m.sid));
      const answered = ours.flatMap((
        m: { timeline: { callback: { httpStatus: number } | null }[] },
      ) => m.timeline.filter((t) => t.callback).map((t) => t.callback!.httpStatus));
      return answered.length >= 20 ? answered : null;
    });
    assert.equal(calls.length, 20, "2 statuses × 2 deliveries × 5 messages");
    assert.ok(calls.every((s: number) => s === 200), "every callback was answered 200");
    // Only now are all callbacks in: a shuffled "sent" may land after the log reached delivered.
    for (const { sid } of logs) {
      const rows = await sql<{ provider_status: string; n: number }[]>`
        select provider_status, count(*)::int as n from public.sms_message_events
         where message_sid = ${sid} and source = 'callback' group by provider_status
         order by provider_status`;
      assert.deepEqual(rows.map((r) => [r.provider_status, r.n]), [["delivered", 1], ["sent", 1]]);
    }
  } finally {
    await (await fetch(`${info.sandboxUrl}/api/config`, {
      method: "POST",
      body: JSON.stringify({
        callbackOrder: config.callbackOrder,
        duplicateRate: config.duplicateRate,
        callbackDelayMs: config.callbackDelayMs,
      }),
    })).body?.cancel();
    await biz.drop();
    await sql.end();
  }
});

Deno.test("error codes have their effect, once", async () => {
  const sql = db();
  const biz = await scratchBusiness(sql, "webhook errors");
  try {
    const cases = {
      optedOut: await newCustomer(sql, biz.id),
      landline: await newCustomer(sql, biz.id),
      invalid: await newCustomer(sql, biz.id),
      filtered: await newCustomer(sql, biz.id),
      unregistered: await newCustomer(sql, biz.id),
    };
    const sids = Object.fromEntries(Object.keys(cases).map((k) => [k, newSid()]));
    const logIds: Record<string, string> = {};
    for (const [k, c] of Object.entries(cases)) logIds[k] = await sentLog(sql, c.id, sids[k]);
    const codes = {
      optedOut: ["failed", "21610"],
      landline: ["undelivered", "30006"],
      invalid: ["undelivered", "30005"],
      filtered: ["undelivered", "30007"],
      unregistered: ["undelivered", "30034"],
    } as const;
    for (const [k, [status, code]] of Object.entries(codes)) {
      for (let i = 0; i < 2; i++) { // the second is a duplicate delivery
        const answer = await postForm(statusParams(sids[k], status, { ErrorCode: code }));
        assert.equal(answer.status, 200, k);
      }
    }

    const customers = await sql<{ id: string; sms_consent_status: string; phone_status: string }[]>`
      select id, sms_consent_status, phone_status from public.customers
       where business_id = ${biz.id}`;
    const byId = Object.fromEntries(customers.map((c) => [c.id, c]));
    assert.equal(byId[cases.optedOut.id].sms_consent_status, "opted_out", "21610 opts out");
    const consent = await sql<{ source: string; error_code: number; message_sid: string }[]>`
      select source, error_code, message_sid from public.sms_consent_events
       where customer_id = ${cases.optedOut.id} and to_status = 'opted_out'`;
    assert.deepEqual(consent.map((e) => ({ ...e })), [
      { source: "provider_error", error_code: 21610, message_sid: sids.optedOut },
    ], "with one consent event, also when the callback is repeated");
    assert.equal(byId[cases.landline.id].phone_status, "landline", "30006 → landline");
    assert.equal(byId[cases.invalid.id].phone_status, "invalid", "30005 → invalid");
    assert.equal(byId[cases.filtered.id].phone_status, "valid", "30007 says nothing of the phone");

    const logs = await sql<
      { id: string; status: string; error_code: number; content_filtered: boolean }[]
    >`
      select id, status, error_code, content_filtered from public.send_logs
       where id = any (${Object.values(logIds)})`;
    const log = Object.fromEntries(logs.map((l) => [l.id, l]));
    for (const [k, [status, code]] of Object.entries(codes)) {
      assert.equal(log[logIds[k]].status, status, k);
      assert.equal(log[logIds[k]].error_code, Number(code), `${k}: ErrorCode stored`);
    }
    assert.equal(log[logIds.filtered].content_filtered, true, "30007 flags the content");
    assert.equal(log[logIds.landline].content_filtered, false);

    const [business] = await sql<{ sms_sender_alert: string; sms_sender_alert_code: number }[]>`
      select sms_sender_alert, sms_sender_alert_code from public.businesses where id = ${biz.id}`;
    assert.deepEqual({ ...business }, {
      sms_sender_alert: "sender_not_registered",
      sms_sender_alert_code: 30034,
    }, "30034 raises the business-level alert");
  } finally {
    await biz.drop();
    await sql.end();
  }
});

Deno.test("newPhone gives distinct valid numbers", () => {
  const phones = new Set(Array.from({ length: 200 }, newPhone));
  assert.ok(phones.size > 195);
  for (const p of phones) assert.match(p, /^\+1646[2-9]\d{6}$/);
});
