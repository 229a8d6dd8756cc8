import { functionEnv } from "@local/stack.ts";
/**
 * A bounded soak: `SOAK_OPS` mixed operations (default 1,000 in `npm test`; the full soak is
 * `SOAK_OPS=10000`) run `SOAK_CONCURRENCY` at a time against the stack while the sandbox injects
 * faults (429, 5xx, hung connections, undeliverable numbers, shuffled and duplicated callbacks):
 *
 * - sends through send-sms (some with idempotency keys, some of them repeated),
 * - deferrals (customers in their quiet hours),
 * - status callbacks for real sids in random order, repeated, some with error codes,
 * - replies (STOP, START, HELP, FCC phrases, free text) through the sandbox's inbound API,
 * - drains of the retry queue by a worker of its own, overlapping each other.
 *
 * Then, after a final drain and once callbacks have settled, the consistency check: every send
 * log is in a final status or has a live retry; each body reached Twilio at most once and every
 * message at Twilio is held by exactly one log; every consent change has its event (the events
 * form an unbroken chain ending in the customer's status) and every opt-out reply has its
 * events; no one was texted without consent at the moment of the decision, nor in quiet hours;
 * and repeated idempotent requests got the first answer again.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { FunctionProcess } from "@local/functions.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { freePort } from "@local/ports.ts";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import {
  type Answer,
  answerOf,
  info,
  invokeRetries,
  makeTenant,
  postStatus,
  randomPhone,
  sandboxApi,
  sandboxConfig,
  sandboxMessages,
  SEND_SMS_URL,
  sleep,
  type Tenant,
  timeWarp,
  zoneAtLocalHour,
} from "./support.ts";

const OPS = Number(Deno.env.get("SOAK_OPS") ?? 1000);
const CONCURRENCY = Number(Deno.env.get("SOAK_CONCURRENCY") ?? 8);
const SEED = Number(Deno.env.get("SOAK_SEED") ?? Date.now() % 2 ** 31);
const OWNER_TOKEN = info.tokens.users["owner@acme.test"];
const FINAL = ["delivered", "undelivered", "failed", "canceled", "read"];

/** A small seeded PRNG (mulberry32), so a failing soak can be replayed with SOAK_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The environment the stack gives process-retries, with a faster sender for the soak. */
function workerEnv(): Record<string, string> {
  return {
    ...functionEnv(info),
    SMS_MAX_SEGMENTS_PER_SECOND: "1000",
    PROCESS_RETRIES_BUDGET_MS: "10000",
  };
}

interface SendRequest {
  customerId: string;
  body: string;
  idempotencyKey?: string;
}

interface Figures {
  ops: number;
  sends: number;
  deferrals: number;
  callbacks: number;
  replies: number;
  drains: number;
  answers: Record<string, number>;
}

Deno.test({
  name: `soak: ${OPS} mixed operations under injected faults, then the consistency check`,
  async fn() {
    const sql = db(4);
    const day = zoneAtLocalHour(13);
    const night = zoneAtLocalHour(3);
    // Five numbers belong to a customer in each business: a STOP from one reaches both.
    const shared = Array.from({ length: 5 }, () => randomPhone());
    const undeliverable = [randomPhone(), randomPhone()];
    const tenants: Tenant[] = [
      await makeTenant(sql, "soak a", [
        ...Array.from({ length: 30 }, () => ({ timeZone: day })),
        ...shared.map((phone) => ({ timeZone: day, phone })),
        ...undeliverable.map((phone) => ({ timeZone: day, phone })),
        ...Array.from({ length: 8 }, () => ({ timeZone: night })),
        ...Array.from({ length: 3 }, () => ({ timeZone: day, consent: "opted_out" })),
        ...Array.from({ length: 3 }, () => ({ timeZone: day, consent: "unknown" })),
      ]),
      await makeTenant(sql, "soak b", [
        ...Array.from({ length: 15 }, () => ({ timeZone: day })),
        ...shared.map((phone) => ({ timeZone: day, phone })),
        ...Array.from({ length: 4 }, () => ({ timeZone: night })),
      ]),
    ];
    const businessIds = tenants.map((t) => t.businessId);
    const customers = tenants.flatMap((t) => t.customers);
    const dayCustomers = customers.filter((c) => c.timeZone === day);
    const nightCustomers = customers.filter((c) => c.timeZone === night);
    const nightPhones = new Set(nightCustomers.map((c) => c.phone));
    const soakPhones = new Set(customers.map((c) => c.phone));
    const worker = new FunctionProcess(
      {
        name: "process-retries",
        entry: join(PROJECT_ROOT, "supabase", "functions", "process-retries", "index.ts"),
        verifyJwt: false,
      },
      { port: freePort(), env: workerEnv(), tag: info.stateDir, log: () => {} },
    );
    const workerUrl = () => `http://127.0.0.1:${worker.port}/`;
    const run = `soak ${crypto.randomUUID().slice(0, 8)}`;
    const random = prng(SEED);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
    const figures: Figures = {
      ops: 0,
      sends: 0,
      deferrals: 0,
      callbacks: 0,
      replies: 0,
      drains: 0,
      answers: {},
    };
    const count = (kind: string, status: number) => {
      const k = `${kind} ${status}`;
      figures.answers[k] = (figures.answers[k] ?? 0) + 1;
    };
    const sids: string[] = [];
    const sentCallbacks: [string, string, Record<string, string>][] = [];
    const keyed = new Map<string, { request: SendRequest; answers: Answer[] }>();
    const replies: { sid: string; phone: string; body: string }[] = [];
    const failures: string[] = [];

    async function send(customerId: string, kind: "sends" | "deferrals") {
      figures[kind]++;
      let request: SendRequest;
      const repeat = keyed.size > 0 && random() < 0.08;
      if (repeat) {
        request = pick([...keyed.values()]).request;
      } else {
        const n = figures.sends + figures.deferrals;
        request = { customerId, body: `${run} #${n}` };
        if (random() < 0.2) request.idempotencyKey = `${run} key ${n}`;
      }
      const a = await answerOf(
        await fetch(SEND_SMS_URL, {
          method: "POST",
          headers: { authorization: `Bearer ${OWNER_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify(request),
        }),
      );
      count("send-sms", a.status);
      if (![200, 202, 409, 422].includes(a.status)) {
        failures.push(`send-sms ${a.status}: ${a.text.slice(0, 200)}`);
      }
      if (a.status === 200) sids.push((a.json as { providerMessageId: string }).providerMessageId);
      if (request.idempotencyKey) {
        const entry = keyed.get(request.idempotencyKey) ?? { request, answers: [] };
        entry.answers.push(a);
        keyed.set(request.idempotencyKey, entry);
      }
    }

    async function callback() {
      figures.callbacks++;
      if (sids.length === 0) return;
      let args: [string, string, Record<string, string>];
      if (sentCallbacks.length > 0 && random() < 0.25) {
        args = pick(sentCallbacks); // the same callback again
      } else {
        const status = pick([
          "queued",
          "sent",
          "sent",
          "delivered",
          "undelivered",
          "failed",
          "read",
        ]);
        const extra: Record<string, string> = {};
        if (status === "undelivered" || status === "failed") {
          // Mostly transient carrier errors; now and then an invalid number or an opt-out.
          extra.ErrorCode = pick([
            ...Array(8).fill("30003"),
            ...Array(8).fill("30008"),
            "30005",
            "21610",
          ]);
        }
        args = [pick(sids), status, extra];
        sentCallbacks.push(args);
      }
      const a = await postStatus(...args);
      count("callback", a.status);
      if (a.status !== 200) failures.push(`callback ${a.status}: ${a.text.slice(0, 200)}`);
    }

    async function reply() {
      figures.replies++;
      const phone = pick(customers).phone;
      const body = pick([
        "STOP",
        "START",
        "START",
        "START",
        "HELP",
        "stop texting me",
        "UNSTOP",
        "cancel",
        "Thanks, see you Tuesday",
        "Thanks, see you Tuesday",
        "YES",
      ]);
      const r = await sandboxApi("/api/inbound", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from: phone, body }),
      }) as { status: number; messageSid: string };
      count("reply", r.status);
      if (r.status !== 200) failures.push(`reply ${body}: webhook answered ${r.status}`);
      replies.push({ sid: r.messageSid, phone, body });
    }

    async function drainOnce(): Promise<Answer> {
      figures.drains++;
      // Backoffs run out; leases stay: other drains are running and hold theirs.
      for (const id of businessIds) await timeWarp(sql, id, { leases: false });
      const a = await invokeRetries(workerUrl(), { batchSize: 200 });
      count("process-retries", a.status);
      if (a.status !== 200) failures.push(`process-retries ${a.status}: ${a.text.slice(0, 200)}`);
      return a;
    }

    async function op() {
      const r = random();
      if (r < 0.45) return await send(pick(dayCustomers.concat(customers)).id, "sends");
      if (r < 0.55) return await send(pick(nightCustomers).id, "deferrals");
      if (r < 0.75) return await callback();
      if (r < 0.88) return await reply();
      await drainOnce();
    }

    try {
      await withCronPaused(sql, async () => {
        await sandboxApi("/api/messages", { method: "DELETE" });
        await sandboxConfig({
          rate429: 0.05,
          rate5xx: 0.05,
          rateTimeout: 0.03,
          timeoutHangMs: 200,
          callbackOrder: "shuffled",
          duplicateRate: 0.2,
          failures: Object.fromEntries(
            undeliverable.map((p) => [p, { status: "undelivered", errorCode: 30003 }]),
          ),
        });
        await worker.start();
        const started = performance.now();
        let next = 0;
        await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
          while (next < OPS) {
            next++;
            figures.ops++;
            await op();
          }
        }));
        const opsMs = performance.now() - started;

        // Faults off, then drain until only rows waiting for their window are open.
        const attempts = await sandboxApi("/api/attempts") as { to: string; outcome: string }[];
        await sandboxConfig({
          rate429: 0,
          rate5xx: 0,
          rateTimeout: 0,
          duplicateRate: 0,
        });
        for (let i = 0; i < 30; i++) {
          const [due] = await sql<{ n: number }[]>`
            select count(*)::int as n from sms.retry_queue
             where business_id = any(${businessIds}::uuid[])
               and (status = 'processing' or (status = 'pending' and reason in
                    ('provider_unavailable', 'rate_limited')))`;
          if (due.n === 0) break;
          await drainOnce();
        }
        // Callbacks settle: every log final or waiting in the queue.
        const deadline = Date.now() + 60_000;
        let open: { id: string; status: string; sid: string | null }[] = [];
        while (Date.now() < deadline) {
          open = await openLogs(sql, businessIds);
          if (open.length === 0) break;
          await sleep(500);
        }
        const totalMs = performance.now() - started;
        // The seed in every message, so that a failure can be replayed (SOAK_SEED=…).
        assert.deepEqual(
          failures.slice(0, 10),
          [],
          `unexpected answers (${failures.length}; seed ${SEED})`,
        );
        assert.deepEqual(
          open.slice(0, 5),
          [],
          `${open.length} send log(s) neither final nor with a live retry (seed ${SEED})`,
        );

        const faults = {
          rateLimited: attempts.filter((a) => soakPhones.has(a.to) && a.outcome === "rate_limited")
            .length,
          serverError: attempts.filter((a) => soakPhones.has(a.to) && a.outcome === "server_error")
            .length,
          timeout: attempts.filter((a) => soakPhones.has(a.to) && a.outcome === "timeout").length,
          rejected: attempts.filter((a) => soakPhones.has(a.to) && a.outcome === "rejected").length,
        };
        const checked = await consistency(sql, {
          businessIds,
          bodyPrefix: run,
          nightPhones,
          soakPhones,
          replies,
        });
        // Repeated idempotent requests: the first answer again (a duplicate may also arrive
        // while the first is still running and wait for it).
        // Refusals found before the key is claimed are not stored: a repeat is judged afresh.
        const stored = (a: Answer) =>
          a.status < 300 ||
          (a.json as { error?: { details?: { twilioCode?: unknown } } })?.error?.details
              ?.twilioCode !== undefined;
        let repeats = 0;
        for (const [key, { answers }] of keyed) {
          const at = answers.findIndex(stored);
          if (at < 0) continue;
          const first = answers[at];
          for (const a of answers.slice(at + 1)) {
            repeats++;
            assert.equal(a.status, first.status, `${key}: ${a.text} vs ${first.text}`);
            assert.deepEqual(a.json, first.json, key);
          }
        }
        console.log(
          `soak (seed ${SEED}): ${figures.ops} ops in ${(opsMs / 1000).toFixed(1)} s ` +
            `(${(totalMs / 1000).toFixed(1)} s with the final drain and settling); ` +
            `${JSON.stringify(figures)}; faults injected ${JSON.stringify(faults)}; ` +
            `idempotent repeats ${repeats}; checked ${JSON.stringify(checked)}`,
        );
        assert.ok(faults.rateLimited + faults.serverError + faults.timeout > 0, "faults happened");
      });
    } finally {
      await worker.stop();
      await sandboxConfig({ reset: true }).catch(() => {});
      for (const t of tenants) await t.drop();
      await sql.end();
    }
  },
});

/** Send logs of the businesses that are neither final nor waiting in the retry queue. */
async function openLogs(sql: postgres.Sql, businessIds: string[]) {
  return [
    ...await sql<{ id: string; status: string; sid: string | null }[]>`
      select l.id, l.status, l.provider_message_id ->> 'twilio_sid' as sid
        from public.send_logs l
       where l.business_id = any(${businessIds}::uuid[]) and l.channel = 'sms'
         and l.status <> all(${FINAL})
         and not exists (select 1 from sms.retry_queue q
                          where q.send_log_id = l.id and q.status in ('pending', 'processing'))`,
  ];
}

interface Checked {
  sendLogs: number;
  final: number;
  liveRetries: number;
  messagesAtTwilio: number;
  bodies: number;
  consentEvents: number;
  customers: number;
  optOutReplies: number;
}

async function consistency(
  sql: postgres.Sql,
  args: {
    businessIds: string[];
    bodyPrefix: string;
    nightPhones: Set<string>;
    soakPhones: Set<string>;
    replies: { sid: string; phone: string; body: string }[];
  },
): Promise<Checked> {
  const logs = await sql<
    {
      id: string;
      status: string;
      sid: string | null;
      to_phone: string;
      customer_id: string;
      live: boolean;
      decided_at: Date;
    }[]
  >`
    select l.id, l.status, l.provider_message_id ->> 'twilio_sid' as sid, l.to_phone,
           l.customer_id,
           exists (select 1 from sms.retry_queue q
                    where q.send_log_id = l.id and q.status in ('pending', 'processing')) as live,
           coalesce((select max(e.occurred_at) from public.sms_message_events e
                      where e.send_log_id = l.id and e.source = 'system'
                        and e.provider_status = 'sending'), l.created_at) as decided_at
      from public.send_logs l
     where l.business_id = any(${args.businessIds}::uuid[]) and l.channel = 'sms'`;
  const messages = (await sandboxMessages()).filter((m) => args.soakPhones.has(m.to));
  const bySid = new Map(messages.map((m) => [m.sid, m]));
  const logBySid = new Map<string, (typeof logs)[number]>();

  // 1. Every log final or with a live retry; 2. a sid names exactly one message, to its number.
  let final = 0;
  let live = 0;
  for (const l of logs) {
    if (FINAL.includes(l.status)) final++;
    else if (l.live) live++;
    else assert.fail(`log ${l.id} is ${l.status} with no live retry`);
    if (l.sid) {
      assert.ok(!logBySid.has(l.sid), `two logs hold ${l.sid}`);
      logBySid.set(l.sid, l);
      const m = bySid.get(l.sid);
      assert.ok(m, `log ${l.id}'s sid ${l.sid} is a message at Twilio`);
      assert.equal(m.to, l.to_phone, `log ${l.id} went to its own number`);
    }
  }
  // 3. Nothing at Twilio that no log holds, no body twice, nobody texted at night.
  const perBody = new Map<string, number>();
  for (const m of messages) {
    assert.ok(logBySid.has(m.sid), `message ${m.sid} (${m.body}) is held by a send log`);
    if (m.body.startsWith(args.bodyPrefix)) perBody.set(m.body, (perBody.get(m.body) ?? 0) + 1);
    assert.ok(!args.nightPhones.has(m.to), `${m.sid} went to a customer in quiet hours`);
  }
  for (const [body, n] of perBody) assert.equal(n, 1, `"${body}" reached Twilio ${n} times`);

  // 4. Consent: an unbroken chain of events per customer, ending in the customer's status.
  const customers = await sql<{ id: string; phone: string; sms_consent_status: string }[]>`
    select id, phone, sms_consent_status from public.customers
     where business_id = any(${args.businessIds}::uuid[])`;
  const events = await sql<
    {
      customer_id: string;
      from_status: string | null;
      to_status: string;
      source: string;
      message_sid: string | null;
      occurred_at: Date;
    }[]
  >`
    select customer_id, from_status, to_status, source, message_sid, occurred_at
      from public.sms_consent_events
     where business_id = any(${args.businessIds}::uuid[]) order by id`;
  const byCustomer = new Map<string, (typeof events)[number][]>();
  for (const e of events) {
    byCustomer.set(e.customer_id, [...(byCustomer.get(e.customer_id) ?? []), e]);
  }
  for (const c of customers) {
    const chain = byCustomer.get(c.id) ?? [];
    // Created opted in or out: an event from null. Created 'unknown': none until a change.
    if (chain.length === 0) {
      assert.equal(c.sms_consent_status, "unknown", `customer ${c.id} has its events`);
      continue;
    }
    assert.ok([null, "unknown"].includes(chain[0].from_status), `customer ${c.id}'s first event`);
    for (let i = 1; i < chain.length; i++) {
      assert.equal(
        chain[i].from_status,
        chain[i - 1].to_status,
        `customer ${c.id}: event ${i} starts where ${i - 1} ended`,
      );
    }
    assert.equal(chain[chain.length - 1].to_status, c.sms_consent_status, `customer ${c.id}`);
  }
  // 5. Every opt-out reply left a keyword event on every customer with that number.
  const optOuts = args.replies.filter((r) => /^(STOP|cancel|stop texting me)$/.test(r.body));
  for (const r of optOuts) {
    for (const c of customers.filter((x) => x.phone === r.phone)) {
      const found = (byCustomer.get(c.id) ?? []).some((e) =>
        e.source === "keyword" && e.message_sid === r.sid && e.to_status === "opted_out"
      );
      assert.ok(found, `reply ${r.sid} "${r.body}" opted out customer ${c.id}`);
    }
  }
  // 6. Consent at the moment of each decision to send (2 s of slack: events are stamped with
  // their transaction's start, and the row lock orders the two transactions, not their stamps).
  for (const l of logs.filter((x) => x.sid)) {
    const chain = byCustomer.get(l.customer_id) ?? [];
    const before = chain.filter((e) => e.occurred_at.getTime() <= l.decided_at.getTime() - 2000);
    const status = before.length
      ? before[before.length - 1].to_status
      : (chain[0]?.from_status ?? chain[0]?.to_status ?? "unknown");
    const recent = chain.some((e) =>
      Math.abs(e.occurred_at.getTime() - l.decided_at.getTime()) < 2000
    );
    if (!recent) assert.equal(status, "opted_in", `log ${l.id} was sent with consent`);
  }
  return {
    sendLogs: logs.length,
    final,
    liveRetries: live,
    messagesAtTwilio: messages.length,
    bodies: perBody.size,
    consentEvents: events.length,
    customers: customers.length,
    optOutReplies: optOuts.length,
  };
}
