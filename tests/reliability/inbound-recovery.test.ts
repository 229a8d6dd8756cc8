/**
 * Replies that arrive while twilio-webhook is down (the sandbox cannot connect to it, so Twilio's
 * one default retry fails too) are recovered from Twilio's Messages list by process-retries'
 * `recoverInbound`: each recorded once through the webhook's steps, a recovered STOP opts the
 * number out with a keyword consent event that says it was recovered and gets no confirmation,
 * and a second recovery of the same window changes nothing. Meanwhile Twilio's own opt-out list
 * already refused a send to a handset that had texted STOP (21610), which opted it out here.
 */
import assert from "node:assert/strict";
import { sendSms } from "@shared/contract/client.ts";
import { withCronPaused } from "../db/fixtures.ts";
import { db, stack } from "../support/stack.ts";
import { createCustomer, userClient } from "../support/sms.ts";

const info = stack();

interface SandboxInbound {
  sid: string;
  from: string;
  body: string;
  date_sent: string;
  webhook: { httpStatus: number | null; error: string | null; attempts?: number } | null;
  replies: string[];
}

async function sandboxConfig(patch: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${info.sandboxUrl}/api/config`, {
    method: "POST",
    body: JSON.stringify(patch),
  });
  assert.equal(res.status, 200, await res.text());
}

/** A reply from a handset while the webhook is unreachable: the sandbox answers 502. */
async function replyDuringOutage(from: string, body: string): Promise<void> {
  const res = await fetch(`${info.sandboxUrl}/api/inbound`, {
    method: "POST",
    body: JSON.stringify({ from, body }),
  });
  const json = await res.json();
  assert.equal(res.status, 502, JSON.stringify(json));
}

async function inboundFrom(phones: string[]): Promise<SandboxInbound[]> {
  const all = await (await fetch(`${info.sandboxUrl}/api/inbound`)).json() as SandboxInbound[];
  return all.filter((m) => phones.includes(m.from));
}

async function recover(since: Date, until: Date) {
  const res = await fetch(`${info.functionsUrl}/process-retries`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${info.processRetriesSecret}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({
      batchSize: 1,
      recoverInbound: { since: since.toISOString(), until: until.toISOString() },
    }),
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json as {
    claimed: number;
    recoverInbound: {
      listed: number;
      recovered: number;
      alreadyRecorded: number;
      complete: boolean;
    };
  };
}

/** A port nothing listens on: the webhook "down" (connection refused). */
function deadUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `http://127.0.0.1:${port}/functions/v1/twilio-webhook`;
}

Deno.test("inbound replies during a webhook outage are recovered once, a STOP without a reply", async () => {
  const sql = db(4);
  try {
    await withCronPaused(sql, async () => {
      const stopper = await createCustomer(sql);
      const chatter = await createCustomer(sql);
      const blocked = await createCustomer(sql);
      const phones = [stopper.phone!, chatter.phone!, blocked.phone!];
      const since = new Date(Date.now() - 2000);

      await sandboxConfig({ inboundWebhookUrl: deadUrl() });
      try {
        await replyDuringOutage(stopper.phone!, "STOP");
        await replyDuringOutage(chatter.phone!, "Can we move it to Tuesday?");
        await replyDuringOutage(blocked.phone!, "stop");
      } finally {
        await sandboxConfig({ inboundWebhookUrl: info.twilio.webhookUrl });
      }
      const missed = await inboundFrom(phones);
      assert.equal(missed.length, 3);
      for (const m of missed) {
        // Twilio's default: one retry when it cannot connect, then the webhook is lost.
        assert.equal(m.webhook?.httpStatus, null);
        assert.equal(m.webhook?.attempts, 2);
      }
      const sids = missed.map((m) => m.sid);
      const [{ n: before }] = await sql<{ n: number }[]>`
        select count(*)::int as n from public.sms_inbound_messages where message_sid = any (${sids})`;
      assert.equal(before, 0, "the webhook never got them");

      // Twilio's own opt-out list protects the consumer meanwhile: a send to the handset that
      // texted STOP is refused (21610), and that refusal opts the number out here.
      const send = await sendSms(userClient(), { customerId: blocked.id, body: "Reminder" });
      assert.equal(send.ok, false);
      const [afterRefusal] = await sql<{ sms_consent_status: string }[]>`
        select sms_consent_status from public.customers where id = ${blocked.id}`;
      assert.equal(afterRefusal.sms_consent_status, "opted_out");
      const refusal = await sql<{ source: string; error_code: number | null }[]>`
        select source, error_code from public.sms_consent_events
         where customer_id = ${blocked.id} and to_status = 'opted_out'`;
      assert.deepEqual(refusal.map((e) => [e.source, e.error_code]), [["provider_error", 21610]]);

      const until = new Date(Date.now() + 1000);
      const first = await recover(since, until);
      assert.ok(first.recoverInbound.complete);
      assert.ok(first.recoverInbound.listed >= 3);
      assert.ok(first.recoverInbound.recovered >= 3, JSON.stringify(first));

      const rows = await sql<{ message_sid: string; kind: string; received_at: Date }[]>`
        select message_sid, kind, received_at from public.sms_inbound_messages
         where message_sid = any (${sids}) order by message_sid`;
      assert.equal(rows.length, 3, "each recorded once (each handset is one business's customer)");
      for (const m of missed) {
        const row = rows.find((r) => r.message_sid === m.sid)!;
        assert.ok(row, m.sid);
        // When the customer sent it, not when it was recovered: Twilio's date_sent has whole
        // seconds, and an opt-out counts from the end of its second (it outranks a change made
        // within that second).
        const optOut = m.body !== "Can we move it to Tuesday?";
        assert.equal(row.kind, optOut ? "opt_out" : "other");
        assert.equal(
          row.received_at.getTime(),
          new Date(m.date_sent).getTime() + (optOut ? 999 : 0),
        );
      }

      const stop = missed.find((m) => m.from === stopper.phone)!;
      const [customer] = await sql<{ sms_consent_status: string }[]>`
        select sms_consent_status from public.customers where id = ${stopper.id}`;
      assert.equal(customer.sms_consent_status, "opted_out");
      const events = await sql<
        {
          source: string;
          keyword: string;
          message_sid: string;
          details: Record<string, string>;
          occurred_at: Date;
        }[]
      >`
        select source, keyword, message_sid, details, occurred_at from public.sms_consent_events
         where customer_id = ${stopper.id} and to_status = 'opted_out'`;
      assert.equal(events.length, 1);
      assert.equal(events[0].source, "keyword");
      assert.equal(events[0].keyword, "stop");
      assert.equal(events[0].message_sid, stop.sid);
      assert.equal(events[0].details.received_via, "recovery");
      assert.equal(events[0].occurred_at.getTime(), new Date(stop.date_sent).getTime() + 999);

      // No confirmation: not as TwiML (there was no webhook), not as a message later.
      const answers = await sql<{ message_sid: string; answered_by: string | null }[]>`
        select message_sid, answered_by from sms.inbound_answers where message_sid = any (${sids})`;
      assert.equal(answers.length, 3);
      for (const a of answers) assert.equal(a.answered_by, null);
      const outbound = await (await fetch(`${info.sandboxUrl}/api/messages`)).json() as {
        to: string;
      }[];
      assert.deepEqual(outbound.filter((m) => phones.includes(m.to)), []);

      // Again over the same window: nothing changes.
      const snapshot = async () =>
        await sql<{ n: string }[]>`
          select (select count(*) from public.sms_inbound_messages where message_sid = any (${sids}))
                 || '/' || (select count(*) from public.sms_consent_events
                             where phone = any (${phones}))
                 || '/' || (select count(*) from sms.inbound_answers
                             where message_sid = any (${sids}))
                 || '/' || (select string_agg(sms_consent_status, ',' order by id)
                              from public.customers where phone = any (${phones})) as n`;
      const was = await snapshot();
      const second = await recover(since, until);
      assert.equal(second.recoverInbound.recovered, 0, JSON.stringify(second));
      assert.ok(second.recoverInbound.alreadyRecorded >= 3);
      assert.deepEqual(await snapshot(), was);
    });
  } finally {
    await sql.end();
  }
});

Deno.test("recoverInbound is bounded and refused when malformed", async () => {
  const call = async (recoverInbound: unknown) => {
    const res = await fetch(`${info.functionsUrl}/process-retries`, {
      method: "POST",
      headers: { authorization: `Bearer ${info.processRetriesSecret}` },
      body: JSON.stringify({ recoverInbound }),
    });
    const json = await res.json();
    return { status: res.status, code: json?.error?.code as string | undefined };
  };
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  for (
    const bad of [
      null,
      "yesterday",
      {},
      { since: "2026-12-04" },
      { since: iso(now - 8 * 86_400_000) },
      { since: iso(now - 1000), until: iso(now - 2000) },
      { since: iso(now - 1000), until: iso(now + 3_600_000) },
      { since: iso(now - 1000), maxPages: 41 },
      { since: iso(now - 1000), extra: 1 },
    ]
  ) {
    assert.deepEqual(
      await call(bad),
      { status: 400, code: "invalid_request" },
      JSON.stringify(bad),
    );
  }
  // Without the secret nothing is read.
  const res = await fetch(`${info.functionsUrl}/process-retries`, {
    method: "POST",
    body: JSON.stringify({ recoverInbound: { since: iso(now - 1000) } }),
  });
  await res.body?.cancel();
  assert.equal(res.status, 401);
});
