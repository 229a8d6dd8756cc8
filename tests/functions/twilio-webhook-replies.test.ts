/**
 * Inbound replies through the sandbox's inbound API (signed by twilio's library) → gateway →
 * twilio-webhook: STOP, "stop texting me", START, HELP and free text each have their effect,
 * the answer is TwiML, and a send-sms to a customer who opted out is then refused.
 */
import assert from "node:assert/strict";
import { withCronPaused } from "../db/fixtures.ts";
import { db, stack } from "../support/stack.ts";
import { countSegments } from "@shared/text/segments.ts";
import {
  inboundParams,
  newCustomer,
  newPhone,
  newSid,
  postForm,
  sentLog,
} from "./twilio-webhook-support.ts";

const info = stack();
const acme = info.seed.businesses.find((b) => b.name === "Acme Plumbing")!;
const bay = info.seed.businesses.find((b) => b.name === "Bay Dental")!;
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

type Sql = ReturnType<typeof db>;

interface InboundAnswer {
  status: number;
  contentType: string | null;
  body: string;
  messageSid: string;
}

async function sandboxConfig(patch: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${info.sandboxUrl}/api/config`, {
    method: "POST",
    body: JSON.stringify(patch),
  });
  assert.equal(res.status, 200, await res.text());
}

/** A reply from a handset, through the sandbox (which signs it as Twilio does). */
async function inbound(from: string, body: string): Promise<InboundAnswer> {
  const res = await fetch(`${info.sandboxUrl}/api/inbound`, {
    method: "POST",
    body: JSON.stringify({ from, body }),
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json as InboundAnswer;
}

/** The `<Message>` of a TwiML answer (unescaped), or null. */
function messageOf(answer: InboundAnswer): string | null {
  assert.equal(answer.status, 200);
  assert.match(answer.contentType ?? "", /^text\/xml/);
  assert.match(answer.body, /^<\?xml version="1\.0" encoding="UTF-8"\?><Response>/);
  const m = /<Message>([^<]*)<\/Message>/.exec(answer.body);
  if (!m) {
    assert.equal(answer.body, EMPTY_TWIML);
    return null;
  }
  return m[1].replaceAll("&apos;", "'").replaceAll("&quot;", '"').replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

async function consentOf(sql: Sql, ids: string[]): Promise<string[]> {
  const rows = await sql<{ id: string; sms_consent_status: string }[]>`
    select id, sms_consent_status from public.customers where id = any (${ids})`;
  const byId = new Map(rows.map((r) => [r.id, r.sms_consent_status]));
  return ids.map((id) => byId.get(id)!);
}

/** One handset that is a customer of both seeded businesses; cleaned up afterwards. */
async function withHandset(
  fn: (ctx: { sql: Sql; phone: string; acmeId: string; bayId: string }) => Promise<void>,
): Promise<void> {
  const sql = db(4);
  const phone = newPhone();
  try {
    // Another test file may have reset the sandbox: make sure replies reach the webhook.
    await sandboxConfig({ inboundWebhookUrl: info.twilio.webhookUrl, advancedOptOut: false });
    const a = await newCustomer(sql, acme.id, { phone });
    const b = await newCustomer(sql, bay.id, { phone });
    await fn({ sql, phone, acmeId: a.id, bayId: b.id });
  } finally {
    await sql`delete from sms.inbound_answers where from_phone = ${phone}`;
    await sql`delete from public.sms_inbound_messages where from_phone = ${phone}`;
    await sql`delete from public.send_logs where to_phone = ${phone}`;
    await sql`delete from public.customers where phone = ${phone}`;
    await sql.end();
  }
}

Deno.test("STOP opts out the phone in every business, cancels retries, confirms once", async () => {
  await withHandset(async ({ sql, phone, acmeId, bayId }) => {
    await withCronPaused(sql, async () => {
      const [retry] = await sql<{ retry_id: string }[]>`
        select retry_id from sms.enqueue_retry(${acmeId}, 'See you tomorrow',
          'quiet_hours', now() + interval '1 hour')`;
      const answer = await inbound(phone, "STOP");
      const text = messageOf(answer);
      assert.ok(text, answer.body);
      assert.match(text, /You are unsubscribed.*Reply START to resubscribe\.$/);
      assert.equal(countSegments(text), 1);

      assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_out", "opted_out"]);
      const events = await sql<{ customer_id: string; source: string; keyword: string }[]>`
        select customer_id, source, keyword from public.sms_consent_events
         where message_sid = ${answer.messageSid} order by customer_id`;
      assert.deepEqual(
        events.map((e) => ({ ...e })),
        [acmeId, bayId].sort().map((id) => ({
          customer_id: id,
          source: "keyword",
          keyword: "stop",
        })),
      );
      const [q] = await sql<{ status: string }[]>`
        select status from sms.retry_queue where id = ${retry.retry_id}`;
      assert.equal(q.status, "cancelled", "the pending retry will not go out");
    });
  });
});

Deno.test('"stop texting me" is an opt-out too (FCC: any reasonable means)', async () => {
  await withHandset(async ({ sql, phone, acmeId, bayId }) => {
    const answer = await inbound(phone, "Please stop texting me");
    assert.match(messageOf(answer) ?? "", /You are unsubscribed/);
    assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_out", "opted_out"]);
    const [event] = await sql<{ keyword: string; details: Record<string, string> }[]>`
      select keyword, details from public.sms_consent_events
       where message_sid = ${answer.messageSid} and customer_id = ${acmeId}`;
    assert.equal(event.keyword, "stop");
    assert.equal(event.details.via, "contains");
    assert.equal(event.details.body, "Please stop texting me", "the reply is kept as evidence");
  });
});

Deno.test("START re-opts-in keyword opt-outs only", async () => {
  await withHandset(async ({ sql, phone, acmeId, bayId }) => {
    await inbound(phone, "stop");
    // Acme then opts the number out itself (a record written as opted out): consent belongs to
    // the number, so both of Acme's records stay opted out; Bay's opt-out was the STOP's only.
    const other = await newCustomer(sql, acme.id, { phone, consent: "opted_out" });
    const answer = await inbound(phone, "Start");
    assert.match(messageOf(answer) ?? "", /You are resubscribed.*STOP to opt out\.$/);
    assert.deepEqual(await consentOf(sql, [acmeId, bayId, other.id]), [
      "opted_out",
      "opted_in",
      "opted_out",
    ]);
    const [event] = await sql<{ source: string; to_status: string; keyword: string }[]>`
      select source, to_status, keyword from public.sms_consent_events
       where message_sid = ${answer.messageSid} and customer_id = ${bayId}`;
    assert.deepEqual({ ...event }, { source: "keyword", to_status: "opted_in", keyword: "start" });
    const [acmeStart] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.sms_consent_events
       where message_sid = ${answer.messageSid} and business_id = ${acme.id}`;
    assert.equal(acmeStart.n, 0, "Acme's own opt-out is not lifted by a text");
  });
});

Deno.test("HELP answers the business's help text with opt-out instructions", async () => {
  const sql = db();
  const [{ contact }] = await sql<{ contact: string | null }[]>`
    select sms_help_contact as contact from public.businesses where id = ${acme.id}`;
  await sql`update public.businesses set sms_help_contact = 'help@acme.test' where id = ${acme.id}`;
  try {
    await withHandset(async ({ sql, phone, acmeId, bayId }) => {
      // Acme texted this phone last: HELP is about Acme.
      await sentLog(sql, acmeId, newSid());
      const answer = await inbound(phone, "HELP");
      const text = messageOf(answer);
      assert.equal(
        text,
        "Acme Plumbing: For help contact help@acme.test. Msg&data rates may apply. Reply STOP to opt out.",
      );
      assert.match(answer.body, /Msg&amp;data/, "escaped in the XML");
      assert.ok(text!.length <= 160 && countSegments(text!) === 1);
      assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_in", "opted_in"]);
    });
  } finally {
    await sql`update public.businesses set sms_help_contact = ${contact} where id = ${acme.id}`;
    await sql.end();
  }
});

Deno.test("free text is stored for the business to read (RLS), and not answered", async () => {
  await withHandset(async ({ sql, phone, acmeId, bayId }) => {
    await sentLog(sql, bayId, newSid());
    const answer = await inbound(phone, "Can I move my cleaning to Friday?");
    assert.equal(messageOf(answer), null, "no automatic answer");
    assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_in", "opted_in"]);

    const readAs = (userId: string) =>
      sql.begin(async (tx) => {
        await tx`select set_config('role', 'authenticated', true),
                        set_config('request.jwt.claims', ${
          JSON.stringify({ sub: userId, role: "authenticated" })
        }, true)`;
        return await tx<{ business_id: string; customer_id: string; body: string; kind: string }[]>`
          select business_id, customer_id, body, kind from public.sms_inbound_messages
           where message_sid = ${answer.messageSid}`;
      });
    const bayRows = await readAs(bay.users[0].id);
    assert.deepEqual(bayRows.map((r) => ({ ...r })), [{
      business_id: bay.id,
      customer_id: bayId,
      body: "Can I move my cleaning to Friday?",
      kind: "other",
    }], "Bay (who texted last) reads the reply");
    assert.equal((await readAs(acme.users[0].id)).length, 0, "Acme does not");
  });
});

Deno.test("with Twilio's Advanced Opt-Out the keyword is applied and answered with empty TwiML", async () => {
  await withHandset(async ({ sql, phone, acmeId, bayId }) => {
    await sandboxConfig({ advancedOptOut: true });
    try {
      const stop = await inbound(phone, "STOP");
      assert.equal(stop.body, EMPTY_TWIML);
      assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_out", "opted_out"]);
      const [event] = await sql<{ details: Record<string, string> }[]>`
        select details from public.sms_consent_events
         where message_sid = ${stop.messageSid} and customer_id = ${acmeId}`;
      assert.equal(event.details.opt_out_type, "STOP");
      const start = await inbound(phone, "START");
      assert.equal(start.body, EMPTY_TWIML);
      assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_in", "opted_in"]);
      // A phrase Twilio does not match is still ours to confirm.
      const phrase = await inbound(phone, "please stop texting me");
      assert.match(messageOf(phrase) ?? "", /You are unsubscribed/);
    } finally {
      await sandboxConfig({ advancedOptOut: false });
    }
  });
});

Deno.test("a re-delivered STOP is applied once and sends one confirmation in total", async () => {
  await withHandset(async ({ sql, phone, acmeId }) => {
    const params = inboundParams(phone, "STOP");
    const first = await postForm(params, { idempotencyToken: "inbound-1" });
    const again = await postForm(params, { idempotencyToken: "inbound-1" });
    assert.equal(first.status, 200);
    assert.equal(again.status, 200);
    assert.match(first.text, /<Message>[^<]*You are unsubscribed/, "the first is confirmed");
    assert.equal(again.text, EMPTY_TWIML, "the redelivery is answered with nothing");
    // Also for a number no business knows (nothing is stored for it in any inbox).
    const stranger = inboundParams(newPhone(), "STOP");
    assert.match((await postForm(stranger)).text, /You are unsubscribed/);
    assert.equal((await postForm(stranger)).text, EMPTY_TWIML);
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.sms_consent_events
       where message_sid = ${params.MessageSid} and customer_id = ${acmeId}`;
    assert.equal(row.n, 1, "one consent event");
  });
});

Deno.test("a STOP from an already opted-out number within the window gets no second confirmation", async () => {
  await withHandset(async ({ sql, phone, acmeId, bayId }) => {
    const first = await inbound(phone, "STOP");
    assert.match(messageOf(first) ?? "", /You are unsubscribed/);
    // Again, as a keyword and as a phrase: already opted out, confirmed minutes ago.
    const again = await inbound(phone, "STOP");
    assert.equal(messageOf(again), null);
    assert.equal(messageOf(await inbound(phone, "please stop texting me")), null);
    assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_out", "opted_out"]);
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.sms_inbound_messages
       where message_sid = ${again.messageSid}`;
    assert.equal(row.n, 2, "still recorded in both inboxes");
    // START, then STOP again: a new opt-out, confirmed.
    assert.match(messageOf(await inbound(phone, "START")) ?? "", /You are resubscribed/);
    assert.match(messageOf(await inbound(phone, "stop")) ?? "", /You are unsubscribed/);
    // HELP is always answered, with the contact.
    assert.match(messageOf(await inbound(phone, "HELP")) ?? "", /For help contact /);
    // Outside the window (the earlier confirmations moved back 25 hours): confirmed again.
    await sql`update sms.inbound_answers set received_at = received_at - interval '25 hours'
               where from_phone = ${phone}`;
    assert.match(messageOf(await inbound(phone, "STOP")) ?? "", /You are unsubscribed/);
    assert.equal(messageOf(await inbound(phone, "STOP")), null);
  });
});

Deno.test("a reply to a number that is not our sender changes nothing", async () => {
  await withHandset(async ({ sql, phone, acmeId, bayId }) => {
    const params = inboundParams(phone, "STOP", { To: "+15005550007" });
    const answer = await postForm(params);
    assert.equal(answer.status, 200);
    assert.equal(answer.text, EMPTY_TWIML);
    assert.deepEqual(await consentOf(sql, [acmeId, bayId]), ["opted_in", "opted_in"]);
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.sms_inbound_messages
       where message_sid = ${params.MessageSid}`;
    assert.equal(row.n, 0);
  });
});

const sendSmsExists = await Deno.stat(
  new URL("../../supabase/functions/send-sms/index.ts", import.meta.url),
).then(() => true, () => false);

Deno.test({
  name: "after STOP, send-sms to that customer is refused (409 opted_out)",
  ignore: !sendSmsExists,
  fn: async () => {
    await withHandset(async ({ phone, acmeId }) => {
      const stop = await inbound(phone, "stop");
      assert.ok(messageOf(stop));
      const res = await fetch(`${info.functionsUrl}/send-sms`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${info.tokens.users["owner@acme.test"]}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ customerId: acmeId, body: "We miss you! 20% off this week." }),
      });
      const json = await res.json();
      assert.equal(res.status, 409, JSON.stringify(json));
      assert.equal(json.error.code, "opted_out");
    });
  },
});
