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
import { FunctionProcess } from "@local/functions.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { freePort } from "@local/ports.ts";
import { newSid } from "@local/sandbox/ids.ts";
import { functionEnv } from "@local/stack.ts";
import { withCronPaused } from "../db/fixtures.ts";
import { randomPhone } from "../support/sms.ts";
import { db, stack } from "../support/stack.ts";
import { sandboxApi as sandbox, sandboxConfig } from "../reliability/support.ts";

const info = stack();
const ENDPOINT = `${info.functionsUrl}/process-retries`;
const AUTH = { authorization: `Bearer ${info.processRetriesSecret}` };

interface SandboxMessage {
  sid: string;
  to: string;
  status: string;
  error_code: number | null;
  timeline: { status: string; dropped?: boolean; callback: unknown }[];
}

async function runRetries(url = ENDPOINT): Promise<Record<string, number>> {
  const res = await fetch(url, {
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
      const gone = { id: crypto.randomUUID(), sid: newSid("SM") };
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

/**
 * process-retries in a process of its own whose Twilio is `twilio` (a stand-in answering every
 * request), so a test decides what Twilio says.
 */
async function withTwilio<T>(
  twilio: (req: Request) => Response,
  fn: (url: string, asked: string[]) => Promise<T>,
): Promise<T> {
  const asked: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    asked.push(`${req.method} ${new URL(req.url).pathname}`);
    return twilio(req);
  });
  const proc = new FunctionProcess(
    {
      name: "process-retries",
      entry: join(PROJECT_ROOT, "supabase", "functions", "process-retries", "index.ts"),
      verifyJwt: false,
    },
    {
      port: freePort(),
      env: {
        ...functionEnv(info),
        TWILIO_API_BASE_URL: `http://127.0.0.1:${server.addr.port}`,
      },
      tag: info.stateDir,
      log: () => {},
    },
  );
  await proc.start();
  try {
    return await fn(`http://127.0.0.1:${proc.port}/`, asked);
  } finally {
    await proc.stop();
    await server.shutdown();
  }
}

Deno.test("process-retries: a lookup Twilio does not answer changes nothing and is asked again next run", async () => {
  const sql = db();
  const businessId = crypto.randomUUID();
  const customerId = crypto.randomUUID();
  const phone = randomPhone();
  const logs = [
    { id: crypto.randomUUID(), sid: newSid("SM") },
    { id: crypto.randomUUID(), sid: newSid("SM") },
  ];
  try {
    await withCronPaused(sql, async () => {
      await sql`
        insert into public.businesses (id, name, sms_help_contact)
        values (${businessId}, 'pr lookup faults', 'help@pr.test')`;
      await sql`
        insert into public.customers (id, business_id, name, phone, phone_status,
                                      sms_consent_status, sms_consent_at, time_zone, us_state)
        values (${customerId}, ${businessId}, 'lookup', ${phone}, 'valid', 'opted_in', now(),
                ${dayZone()}, 'NY')`;
      // Two logs waiting for a callback for 70 hours (older than anything else: asked about
      // first); Twilio (the sandbox) knows neither sid.
      for (const log of logs) {
        await sql`
          insert into public.send_logs (id, business_id, channel, customer_id, to_phone, status,
                                        segments, encoding, status_at, provider_message_id)
          values (${log.id}, ${businessId}, 'sms', ${customerId}, ${phone}, 'sent', 1, 'GSM-7',
                  now() - interval '70 hours', ${sql.json({ twilio_sid: log.sid })})`;
      }
      const state = async () => [
        ...await sql<{ status: string; checked: boolean; events: number }[]>`
          select l.status, l.status_checked_at is not null as checked,
                 (select count(*)::int from public.sms_message_events e
                   where e.send_log_id = l.id and e.source = 'lookup') as events
            from public.send_logs l where l.business_id = ${businessId} order by l.id`,
      ];

      // Twilio unavailable, then a 404 that is not Twilio's (no code 20404): no answer either.
      const answers = [
        () =>
          new Response(JSON.stringify({ code: 20503, message: "unavailable", status: 503 }), {
            status: 503,
            headers: { "content-type": "application/json" },
          }),
        () => new Response("<html>Not Found</html>", { status: 404 }),
      ];
      for (const answer of answers) {
        await withTwilio(answer, async (url, asked) => {
          await runRetries(url);
          for (const log of logs) {
            assert.ok(
              asked.some((a) => a.endsWith(`/Messages/${log.sid}.json`)),
              `the log with ${log.sid} was looked up`,
            );
          }
        });
        assert.deepEqual(
          await state(),
          logs.map(() => ({ status: "sent", checked: false, events: 0 })),
          "nothing recorded, and the logs are due again at once",
        );
      }

      // Twilio answers again: the sandbox has no such messages (20404), so both end failed.
      for (let run = 0; run < 10 && (await state()).some((l) => l.status === "sent"); run++) {
        await runRetries();
      }
      assert.deepEqual(
        await state(),
        logs.map(() => ({ status: "failed", checked: true, events: 1 })),
      );
    });
  } finally {
    await sql`delete from public.businesses where id = ${businessId}`;
    await sql.end();
  }
});
