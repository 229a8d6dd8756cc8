/**
 * Status callbacks arrive out of order and more than once: 1,000 callbacks for 200 messages,
 * signed by twilio's own library and posted shuffled with duplicates and bounded concurrency,
 * leave every send log at its furthest status and every (message, status) event recorded once.
 */
import assert from "node:assert/strict";
import { db } from "../support/stack.ts";
import {
  newCustomer,
  newSid,
  postForm,
  scratchBusiness,
  statusParams,
} from "./twilio-webhook-support.ts";

const MESSAGES = 200;
const CALLBACKS = 1000;
const CONCURRENCY = 16;

/** Small seeded PRNG (mulberry32), so a failing order can be replayed from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Step {
  status: string;
  errorCode?: string;
}

// Lifecycles Twilio reports (a Messaging Service adds accepted/queued), with the send-log status
// each must end at: the furthest one, whatever order the callbacks come in.
const LIFECYCLES: { steps: Step[]; final: string }[] = [
  { steps: [{ status: "sent" }, { status: "delivered" }], final: "delivered" },
  {
    steps: [{ status: "accepted" }, { status: "queued" }, { status: "sent" }, {
      status: "delivered",
    }],
    final: "delivered",
  },
  {
    steps: [{ status: "queued" }, { status: "sending" }, { status: "sent" }, {
      status: "delivered",
    }, { status: "read" }],
    final: "read",
  },
  {
    steps: [{ status: "queued" }, { status: "sent" }, {
      status: "undelivered",
      errorCode: "30003",
    }],
    final: "undelivered",
  },
  { steps: [{ status: "queued" }, { status: "failed", errorCode: "30008" }], final: "failed" },
  {
    steps: [{ status: "sent" }, { status: "partially_delivered", errorCode: "30003" }],
    final: "undelivered",
  },
];

interface Callback {
  index: number;
  params: Record<string, string>;
  token: string;
}

async function postAll(callbacks: Callback[]): Promise<number[]> {
  const statuses: number[] = new Array(callbacks.length);
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < callbacks.length) {
      const i = next++;
      const answer = await postForm(callbacks[i].params, { idempotencyToken: callbacks[i].token });
      statuses[i] = answer.status;
    }
  }));
  return statuses;
}

Deno.test("1,000 shuffled callbacks with duplicates: furthest status, each event once", async () => {
  const seed = Date.now() % 2 ** 31;
  const random = prng(seed);
  const why = `seed ${seed}`;
  const sql = db(4);
  const biz = await scratchBusiness(sql, "webhook order");
  try {
    const customers = await Promise.all(
      Array.from({ length: 10 }, () => newCustomer(sql, biz.id)),
    );
    // 200 send logs handed to Twilio, as send-sms leaves them (status sending, sid stored).
    const messages = Array.from({ length: MESSAGES }, (_, i) => ({
      sid: newSid(),
      customerId: customers[i % customers.length].id,
      lifecycle: LIFECYCLES[Math.floor(random() * LIFECYCLES.length)],
    }));
    const logs = await sql<{ id: string; sid: string }[]>`
      select l.id, m.sid
        from unnest(${messages.map((m) => m.customerId)}::uuid[],
                    ${messages.map((m) => m.sid)}::text[]) as m(customer_id, sid)
        cross join lateral sms.create_send_log(m.customer_id, 1, 'GSM-7') l`;
    for (const log of logs) {
      await sql`select sms.record_send_result(${log.id}, ${log.sid}, 'queued')`;
    }
    const logBySid = new Map(logs.map((l) => [l.sid, l.id]));

    const originals: Callback[] = messages.flatMap((m) =>
      m.lifecycle.steps.map((step) => ({
        index: 0,
        params: statusParams(
          m.sid,
          step.status,
          step.errorCode ? { ErrorCode: step.errorCode } : {},
        ),
        token: crypto.randomUUID(),
      }))
    );
    assert.ok(originals.length < CALLBACKS, why);
    // The rest are re-deliveries: the very same request, same token.
    const callbacks = [...originals];
    while (callbacks.length < CALLBACKS) {
      callbacks.push(originals[Math.floor(random() * originals.length)]);
    }
    for (let i = callbacks.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [callbacks[i], callbacks[j]] = [callbacks[j], callbacks[i]];
    }
    assert.equal(callbacks.length, CALLBACKS);

    const statuses = await postAll(callbacks);
    assert.deepEqual(
      [...new Set(statuses)],
      [200],
      `every callback is answered 200 (${why})`,
    );

    const finals = await sql<{ id: string; status: string; error_code: number | null }[]>`
      select id, status, error_code from public.send_logs where business_id = ${biz.id}`;
    const finalById = new Map(finals.map((f) => [f.id, f]));
    for (const m of messages) {
      const log = finalById.get(logBySid.get(m.sid)!)!;
      assert.equal(log.status, m.lifecycle.final, `${m.sid} ends at its furthest status (${why})`);
      const code = m.lifecycle.steps.find((s) => s.errorCode)?.errorCode;
      assert.equal(log.error_code, code ? Number(code) : null, `${m.sid} error code (${why})`);
    }

    const events = await sql<{ message_sid: string; provider_status: string; n: number }[]>`
      select message_sid, provider_status, count(*)::int as n from public.sms_message_events
       where source = 'callback' and message_sid = any (${messages.map((m) => m.sid)})
       group by message_sid, provider_status`;
    assert.equal(events.length, originals.length, `every distinct callback recorded (${why})`);
    assert.ok(events.every((e) => e.n === 1), `each exactly once (${why})`);
    const linked = await sql<{ n: number }[]>`
      select count(*)::int as n from public.sms_message_events
       where source = 'callback' and business_id = ${biz.id}`;
    assert.equal(linked[0].n, originals.length, "all attributed to their send log's business");
  } finally {
    await biz.drop();
    await sql.end();
  }
});
