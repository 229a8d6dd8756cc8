/**
 * Statuses no callback reported, end to end against the running stack: messages are sent through
 * process-retries and the Twilio sandbox with every status callback lost; once their logs look
 * old (timestamps moved back in SQL, no sleeping), process-retries asks Twilio's API and each log
 * reaches the status the sandbox decided, recorded as a lookup, with the error's effect applied
 * as a callback would apply it; a message Twilio does not know ends failed with the reason; and
 * nothing is sent twice.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { withCronPaused } from "../db/fixtures.ts";
import { db, stack } from "../support/stack.ts";

const info = stack();
const ENDPOINT = `${info.functionsUrl}/process-retries`;
const AUTH = { authorization: `Bearer ${info.processRetriesSecret}` };

async function sandbox(path: string, init: RequestInit = {}): Promise<unknown> {
  const res = await fetch(`${info.sandboxUrl}${path}`, init);
  const text = await res.text();
  assert.ok(res.ok, `sandbox ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function sandboxConfig(patch: Record<string, unknown>): Promise<void> {
  await sandbox("/api/config", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(patch),
  });
}

interface SandboxMessage {
  sid: string;
  to: string;
  status: string;
  error_code: number | null;
  timeline: { status: string; dropped?: boolean; callback: unknown }[];
}

async function runRetries(): Promise<Record<string, number>> {
  const res = await fetch(ENDPOINT, {
    method: "POST",
    headers: { "content-type": "application/json", ...AUTH },
    body: "{}",
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

/** An `Etc/GMT±N` zone where it is 13:xx now: quiet hours stay out of the way for hours. */
function dayZone(now = new Date()): string {
  let offset = (((13 - now.getUTCHours()) % 24) + 24) % 24;
  if (offset > 11) offset -= 24;
  if (offset === 0) return "Etc/GMT";
  return offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
}

function randomPhone(): string {
  return `+1212${String(2 + Math.floor(Math.random() * 8))}${
    String(Math.floor(Math.random() * 1e6)).padStart(6, "0")
  }`;
}

function randomSid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "SM" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

interface LogRow {
  id: string;
  customer_id: string;
  to_phone: string;
  status: string;
  error_code: number | null;
  error: string | null;
  sid: string | null;
}

async function logsOf(sql: postgres.Sql, businessId: string): Promise<LogRow[]> {
  return [
    ...await sql<LogRow[]>`
      select id, customer_id, to_phone, status, error_code, error,
             provider_message_id ->> 'twilio_sid' as sid
        from public.send_logs where business_id = ${businessId} order by to_phone`,
  ];
}

Deno.test("process-retries: with every callback lost, lookups bring each log to its true final status, nothing sent twice", async () => {
  const sql = db();
  const businessId = crypto.randomUUID();
  // Four delivered, one undelivered (unreachable), one undelivered with a dead number, one
  // failed before sending (10DLC): each outcome the sandbox can decide.
  const fates: Record<string, unknown>[] = [
    {},
    {},
    {},
    {},
    {
      status: "undelivered",
      errorCode: 30003,
    },
    { status: "undelivered", errorCode: 30005 },
    { status: "failed", errorCode: 30034 },
  ];
  const phones = fates.map(() => randomPhone());
  try {
    await withCronPaused(sql, async () => {
      await sandbox("/api/messages", { method: "DELETE" });
      await sql`
        insert into public.businesses (id, name, sms_help_contact)
        values (${businessId}, 'pr lookups', 'help@pr.test')`;
      const zone = dayZone();
      const customers = phones.map((phone) => ({ id: crypto.randomUUID(), phone }));
      for (const c of customers) {
        await sql`
          insert into public.customers (id, business_id, name, phone, phone_status,
                                        sms_consent_status, sms_consent_at, time_zone, us_state)
          values (${c.id}, ${businessId}, 'lookup', ${c.phone}, 'valid', 'opted_in', now(),
                  ${zone}, 'NY')`;
      }
      const failures: Record<string, unknown> = {};
      phones.forEach((p, i) => {
        if (fates[i].status) failures[p] = fates[i];
      });
      await sandboxConfig({ dropCallbacksTo: phones, failures, callbackDelayMs: 5 });

      // Due rows, as send-sms leaves them when Twilio was unavailable; one run sends them.
      await sql.begin(async (tx) => {
        for (const [i, c] of customers.entries()) {
          const logId = crypto.randomUUID();
          await tx`
            insert into public.send_logs (id, business_id, channel, customer_id, to_phone, status,
                                          segments, encoding, status_at)
            values (${logId}, ${businessId}, 'sms', ${c.id}, ${c.phone}, 'deferred', 1, 'GSM-7',
                    now())`;
          await tx`
            insert into sms.retry_queue (id, business_id, customer_id, send_log_id, body, reason,
                                         max_attempts, scheduled_for)
            values (${crypto.randomUUID()}, ${businessId}, ${c.id}, ${logId},
                    ${`Your visit #${i}: how did we do?`}, 'provider_unavailable', 5,
                    now() - interval '1 minute')`;
        }
      });
      const first = await runRetries();
      assert.ok(first.sent >= customers.length, JSON.stringify(first));
      await sandbox("/api/idle");

      const ours = (await sandbox("/api/messages") as SandboxMessage[])
        .filter((m) => phones.includes(m.to));
      assert.equal(ours.length, customers.length, "each message sent once");
      assert.ok(
        ours.every((m) =>
          m.timeline.slice(1).length > 0 && m.timeline.slice(1).every((t) => t.dropped)
        ),
        "every status callback was lost",
      );
      const sent = await logsOf(sql, businessId);
      assert.deepEqual(
        [...new Set(sent.map((l) => l.status))],
        ["sending"],
        "without callbacks every log stays where the send left it (Twilio answered queued)",
      );

      // A message Twilio does not know (deleted, say): its log waits for a callback that never
      // comes.
      const gone = { id: crypto.randomUUID(), sid: randomSid() };
      await sql`
        insert into public.send_logs (id, business_id, channel, customer_id, to_phone, status,
                                      segments, encoding, status_at, provider_message_id)
        values (${gone.id}, ${businessId}, 'sms', ${customers[0].id}, ${customers[0].phone},
                'sent', 1, 'GSM-7', now(), ${sql.json({ twilio_sid: gone.sid })})`;

      // A run now asks about none of them: they have not waited long enough.
      await runRetries();
      const [{ early }] = await sql<{ early: number }[]>`
        select count(*)::int as early from public.sms_message_events
         where business_id = ${businessId} and source = 'lookup'`;
      assert.equal(early, 0, "no lookup before the threshold");

      // Two hours pass for these logs.
      await sql`
        update public.send_logs
           set status_at = status_at - interval '2 hours', created_at = created_at - interval '2 hours'
         where business_id = ${businessId}`;

      // Other tests' stale logs may come first (oldest first): run until ours are final.
      const open = async () =>
        (await logsOf(sql, businessId)).filter((l) =>
          ["queued", "sending", "sent"].includes(l.status)
        );
      for (let run = 0; run < 10 && (await open()).length > 0; run++) await runRetries();
      assert.deepEqual(await open(), [], "every log reached a final status");

      const bySid = new Map(ours.map((m) => [m.sid, m]));
      const logs = await logsOf(sql, businessId);
      for (const log of logs) {
        if (log.id === gone.id) continue;
        const m = bySid.get(log.sid ?? "");
        assert.ok(m, `log ${log.id} has the sid of one of the messages sent`);
        assert.equal(log.status, m.status, `log of ${m.sid} ends as the sandbox decided`);
        assert.equal(log.error_code, m.error_code, `with Twilio's error code (${m.sid})`);
      }
      const statuses = logs.filter((l) => l.id !== gone.id).map((l) => l.status).sort();
      assert.deepEqual(statuses, [
        "delivered",
        "delivered",
        "delivered",
        "delivered",
        "failed",
        "undelivered",
        "undelivered",
      ]);
      const goneLog = logs.find((l) => l.id === gone.id)!;
      assert.deepEqual(
        [goneLog.status, goneLog.error_code, goneLog.error],
        ["failed", 20404, "Twilio has no such message (20404)"],
        "a message Twilio does not know ends failed, with the reason",
      );

      // Each log's final status came from a lookup, recorded once.
      const events = await sql<{ send_log_id: string; n: number; status: string }[]>`
        select send_log_id, count(*)::int as n, max(status) as status
          from public.sms_message_events
         where business_id = ${businessId} and source = 'lookup'
         group by send_log_id`;
      assert.equal(events.length, logs.length, "one lookup event per log");
      assert.ok(events.every((e) => e.n === 1), JSON.stringify(events));
      const [{ callbacks }] = await sql<{ callbacks: number }[]>`
        select count(*)::int as callbacks from public.sms_message_events
         where business_id = ${businessId} and source = 'callback'`;
      assert.equal(callbacks, 0, "no callback reported anything");

      // The errors' effects, as a callback would have applied them.
      const [dead] = await sql<{ phone_status: string }[]>`
        select phone_status from public.customers where id = ${customers[5].id}`;
      assert.equal(dead.phone_status, "invalid", "30005: the number is marked invalid");
      const [business] = await sql<{ sms_sender_alert: string | null }[]>`
        select sms_sender_alert from public.businesses where id = ${businessId}`;
      assert.equal(
        business.sms_sender_alert,
        "sender_not_registered",
        "30034: the business is alerted",
      );

      // Final logs are never asked about again, and nothing was sent again.
      await runRetries();
      const [{ after }] = await sql<{ after: number }[]>`
        select count(*)::int as after from public.sms_message_events
         where business_id = ${businessId} and source = 'lookup'`;
      assert.equal(after, logs.length);
      const again = (await sandbox("/api/messages") as SandboxMessage[])
        .filter((m) => phones.includes(m.to));
      assert.equal(again.length, customers.length, "nothing sent twice");
      const attempts = (await sandbox("/api/attempts") as { to: string | null; outcome: string }[])
        .filter((a) => a.to !== null && phones.includes(a.to));
      assert.equal(attempts.length, customers.length, "one create request per message");
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await sandbox("/api/messages", { method: "DELETE" }).catch(() => {});
    await sql`delete from public.businesses where id = ${businessId}`;
    await sql.end();
  }
});
