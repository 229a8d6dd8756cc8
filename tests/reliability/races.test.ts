/**
 * Races between a send and the customer's STOP, both found by the soak:
 *
 * - a client retrying a send (same idempotency key) after the customer replied STOP got 409
 *   opted_out, although the first request had sent the message. The contract says a repeat gets
 *   the first answer again; the refusal is for new requests only.
 * - Twilio answered 5xx to a send while the customer's STOP was being applied: the retry could
 *   not be queued (opted out), and the send log stayed 'sending' forever, neither final nor
 *   with a retry. It must end failed, with the reason.
 */
import assert from "node:assert/strict";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import {
  answerOf,
  info,
  makeTenant,
  randomPhone,
  sandboxApi,
  sandboxConfig,
  sandboxMessages,
  SEND_SMS_URL,
  sleep,
  zoneAtLocalHour,
} from "./support.ts";

const TOKEN = info.tokens.users["owner@acme.test"];

async function send(body: Record<string, unknown>) {
  return await answerOf(
    await fetch(SEND_SMS_URL, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}

Deno.test("idempotency: a repeat after the customer opted out gets the first answer, no second SMS", async () => {
  const sql = db(2);
  const tenant = await makeTenant(sql, "replay", [{ timeZone: zoneAtLocalHour(13) }]);
  const [c] = tenant.customers;
  try {
    await withCronPaused(sql, async () => {
      const request = {
        customerId: c.id,
        body: `replay ${crypto.randomUUID()}`,
        idempotencyKey: crypto.randomUUID(),
      };
      const first = await send(request);
      assert.equal(first.status, 200, first.text);

      const stop = await sandboxApi("/api/inbound", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from: c.phone, body: "STOP" }),
      }) as { status: number };
      assert.equal(stop.status, 200);
      const [row] = await sql`select sms_consent_status from public.customers where id = ${c.id}`;
      assert.equal(row.sms_consent_status, "opted_out");

      const again = await send(request);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json, first.json, "the first answer again");

      // The same key for another body is still a conflict; a new request is refused.
      const other = await send({ ...request, body: `${request.body} (changed)` });
      assert.equal(other.status, 409);
      const fresh = await send({ customerId: c.id, body: request.body });
      assert.equal(fresh.status, 409);
      assert.equal((fresh.json as { error: { code: string } }).error.code, "opted_out");

      const sent = (await sandboxMessages()).filter((m) => m.body === request.body);
      assert.equal(sent.length, 1, "one SMS");
    });
  } finally {
    await tenant.drop();
    await sql.end();
  }
});

Deno.test("race: Twilio refuses a send (5xx) while the customer's STOP lands — the log ends failed", async () => {
  const sql = db(2);
  const tenant = await makeTenant(sql, "stop-race", [{ timeZone: zoneAtLocalHour(13) }]);
  const [c] = tenant.customers;
  try {
    await withCronPaused(sql, async () => {
      // Twilio holds the create for a second, then answers 500.
      await sandboxConfig({ latencyMs: 1000, rate5xx: 1 });
      const body = `stop-race ${crypto.randomUUID()}`;
      const sending = send({ customerId: c.id, body });
      // The log is written ('sending') before Twilio is called; the STOP arrives meanwhile.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const [l] = await sql`select 1 from public.send_logs where customer_id = ${c.id}`;
        if (l) break;
        await sleep(20);
      }
      const stop = await sandboxApi("/api/inbound", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from: c.phone, body: "STOP" }),
      }) as { status: number };
      assert.equal(stop.status, 200);
      const a = await sending;
      assert.equal(a.status, 409, a.text);
      assert.equal((a.json as { error: { code: string } }).error.code, "opted_out");
      const logs = await sql`
        select l.status, l.provider_message_id ->> 'twilio_sid' as sid,
               (select count(*)::int from sms.retry_queue q where q.send_log_id = l.id)
                 as retries
          from public.send_logs l where l.customer_id = ${c.id}`;
      assert.equal(logs.length, 1);
      assert.deepEqual(
        [logs[0].status, logs[0].sid, logs[0].retries],
        ["failed", null, 0],
        "the log is final",
      );
      assert.equal((await sandboxMessages()).filter((m) => m.body === body).length, 0);
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
});

Deno.test("race: replies from one number shared by several businesses never deadlock", async () => {
  // Found by the soak: a free-text reply from a number no business had texted yet is recorded
  // for every business, and its rows' foreign keys share-lock the customers in the order of the
  // businesses' names, while a STOP from the same number took them for update in the order of
  // their ids. Two such transactions deadlocked and the webhook answered 500.
  const sql = db(2);
  const phone = randomPhone();
  const tenants = [];
  for (const label of ["race d", "race c", "race b", "race a"]) {
    tenants.push(await makeTenant(sql, label, [{ timeZone: zoneAtLocalHour(13), phone }]));
  }
  try {
    const bodies = [
      "Thanks, see you Tuesday",
      "STOP",
      "HELP",
      "START",
      "Thanks!",
      "stop texting me",
    ];
    const answers: number[] = [];
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
        const r = await sandboxApi("/api/inbound", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ from: phone, body: bodies[(i + round) % bodies.length] }),
        }) as { status: number };
        return r.status;
      }));
      answers.push(...results);
    }
    assert.deepEqual(answers.filter((s) => s !== 200), [], "every reply answered 200");
    const [n] = await sql`
      select count(distinct message_sid)::int as n from public.sms_inbound_messages
       where from_phone = ${phone}`;
    assert.equal(n.n, answers.length, "every reply recorded");
  } finally {
    for (const t of tenants) await t.drop();
    await sql.end();
  }
});
