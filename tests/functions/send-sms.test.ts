/**
 * send-sms end to end: supabase-js as a seeded user → gateway → function → Postgres and the
 * Twilio sandbox. Each case checks the answer and what was (or was not) written.
 */
import { RULE_SET_VERSION } from "@shared/compliance/receipt.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { withCronPaused } from "../db/fixtures.ts";
import { db, stack } from "../support/stack.ts";
import {
  createCustomer,
  dbSnapshot,
  randomPhone,
  sandbox,
  userClient,
  zoneAtLocalHour,
} from "../support/sms.ts";
import { sendSms } from "@shared/contract/client.ts";
import {
  errorBodySchema,
  sendSmsDeferredResponseSchema,
  sendSmsSentResponseSchema,
} from "@shared/contract/schemas.ts";
import { createSendSmsHandler } from "../../supabase/functions/send-sms/handler.ts";
import { authConfigFromEnv, createVerifier } from "@shared/runtime/auth.ts";
import { createDb } from "@shared/runtime/db.ts";
import { serveFunction } from "@shared/runtime/function.ts";
import {
  createTwilioClient,
  DEFAULT_CONNECTION_OVERRIDES,
  loadTwilioConfig,
} from "@shared/twilio/client.ts";
import { functionEnv } from "@local/stack.ts";

const info = stack();
const acme = info.seed.businesses[0];
const bay = info.seed.businesses[1];
const client = userClient("owner@acme.test");

async function invoke(body: unknown, token = info.tokens.users["owner@acme.test"]) {
  const res = await fetch(`${info.functionsUrl}/send-sms`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

const errorCode = (r: { json: Record<string, unknown> }) =>
  (r.json.error as { code?: string } | undefined)?.code;

/** Runs `fn` with pg_cron paused (so process-retries does not drain rows under the test). */
function test(name: string, fn: (sql: ReturnType<typeof db>) => Promise<void>) {
  Deno.test(name, async () => {
    const sql = db(4);
    try {
      await withCronPaused(sql, () => fn(sql));
    } finally {
      await sandbox.reset();
      await sql.end();
    }
  });
}

test("200 sent: log, sid, callback URL and validity period", async (sql) => {
  const c = await createCustomer(sql);
  const r = await sendSms(client, { customerId: c.id, body: "Your order is ready" });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.data.status, "sent");
  if (r.data.status !== "sent") return;
  assert.match(r.data.providerMessageId, /^SM[0-9a-f]{32}$/);
  assert.equal(r.data.segments, 1);
  assert.equal(r.data.encoding, "GSM-7");
  assert.ok(sendSmsSentResponseSchema.safeParse(r.data).success, JSON.stringify(r.data));

  const [log] = await sql`select * from public.send_logs where id = ${r.data.sendLogId}`;
  assert.equal(log.channel, "sms");
  assert.equal(log.customer_id, c.id);
  assert.equal(log.to_phone, c.phone);
  assert.equal(log.provider_message_id.twilio_sid, r.data.providerMessageId);
  // Twilio answers "queued", which ranks below our own "sending": callbacks move it on.
  assert.ok(["sending", "sent", "delivered"].includes(log.status), log.status);
  // The consent the send relied on (issue 19): the number's opt-in event.
  const [consent] = await sql`
    select e.to_status, e.phone from public.sms_consent_events e where e.id = ${log.consent_event_id}`;
  assert.deepEqual({ ...consent }, { to_status: "opted_in", phone: c.phone });
  // Why it was allowed then: the record's zone, 13:xx there, the federal window until 21:00.
  const receipt = log.compliance_receipt;
  const [zone] = await sql`select time_zone from public.customers where id = ${c.id}`;
  assert.equal(receipt.ruleSet, RULE_SET_VERSION);
  assert.equal(receipt.recipient.basis, "record");
  assert.deepEqual(receipt.recipient.timeZones, [zone.time_zone]);
  assert.match(receipt.recipient.localTimes[zone.time_zone], / 13:\d\d$/);
  assert.ok(new Date(receipt.windowEndsAt) > new Date(receipt.decidedAt), JSON.stringify(receipt));

  const sent = await sandbox.messages(c.phone!);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].sid, r.data.providerMessageId);
  assert.equal(sent[0].body, "Your order is ready");
  assert.equal(
    sent[0].status_callback,
    `${info.twilio.webhookUrl}#${DEFAULT_CONNECTION_OVERRIDES}`,
  );
  // Local time is 13:xx: the window ends at 21:00, more than an hour away.
  assert.equal(sent[0].validity_period, 3600);
});

test("ValidityPeriod is no longer than what is left of the window", async (sql) => {
  const now = new Date();
  // A zone where it is 20:xx: at most an hour left before 21:00.
  const c = await createCustomer(sql, { timeZone: zoneAtLocalHour(20, now) });
  const r = await invoke({ customerId: c.id, body: "Closing soon" });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const [m] = await sandbox.messages(c.phone!);
  const left = 3600 - now.getUTCMinutes() * 60 - now.getUTCSeconds();
  assert.ok(
    m.validity_period! <= left + 1 && m.validity_period! >= left - 120,
    `${m.validity_period} vs ${left}`,
  );
});

test("202 deferred in quiet hours, scheduled for 08:00 local, nothing sent", async (sql) => {
  const zone = zoneAtLocalHour(2);
  const c = await createCustomer(sql, { timeZone: zone });
  const r = await invoke({ customerId: c.id, body: "See you tomorrow" });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  assert.equal(r.json.status, "deferred");
  assert.equal(r.json.reason, "quiet_hours");
  assert.ok(sendSmsDeferredResponseSchema.safeParse(r.json).success, JSON.stringify(r.json));
  const scheduled = new Date(r.json.scheduledFor as string);
  const local = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(scheduled);
  assert.equal(local, "08:00");
  assert.ok(scheduled.getTime() - Date.now() < 7 * 3_600_000, "the same night's morning");

  const [log] = await sql`select status from public.send_logs where id = ${r.json
    .sendLogId as string}`;
  assert.equal(log.status, "deferred");
  const [q] = await sql`select status, reason, scheduled_for, body from sms.retry_queue
                         where id = ${r.json.retryId as string}`;
  assert.deepEqual([q.status, q.reason, q.body], ["pending", "quiet_hours", "See you tomorrow"]);
  assert.equal(new Date(q.scheduled_for).toISOString(), scheduled.toISOString());
  assert.equal((await sandbox.messages(c.phone!)).length, 0);
});

test("202 frequency_cap: a fourth text within 24 h to a Florida number waits", async (sql) => {
  const c = await createCustomer(sql, { state: "FL" });
  for (let i = 0; i < 3; i++) {
    const r = await invoke({ customerId: c.id, body: `Update ${i}` });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }
  const r = await invoke({ customerId: c.id, body: "One more" });
  assert.equal(r.status, 202, JSON.stringify(r.json));
  assert.equal(r.json.reason, "frequency_cap");
  assert.equal((await sandbox.messages(c.phone!)).length, 3);
});

test("refusals write nothing: 400, 401, 404, 409, 422", async (sql) => {
  const bayCustomer = info.seed.customers.find((x) => x.businessId === bay.id)!;
  const optedOut = await createCustomer(sql, { consent: "opted_out" });
  const noConsent = await createCustomer(sql, { consent: "unknown" });
  const landline = await createCustomer(sql, { phoneStatus: "landline" });
  const invalid = await createCustomer(sql, { phoneStatus: "invalid" });
  const noPhone = await createCustomer(sql, { phone: null });
  // E.164 in form (the database's check), but no numbering plan has them (libphonenumber).
  const noCountry = await createCustomer(sql, { phone: "+99912345678" });
  const tooShort = await createCustomer(sql, { phone: "+331234567" });
  const noAreaCode = await createCustomer(sql, { phone: "+15557654321" });
  const ok = await createCustomer(sql);
  const before = await dbSnapshot(sql);

  const cases: [unknown, number, string, string?][] = [
    ["{not json", 400, "invalid_request"],
    [{ customerId: "x", body: "hi" }, 400, "invalid_request"],
    [{ customerId: ok.id }, 400, "invalid_request"],
    [{ customerId: ok.id, body: "   " }, 400, "invalid_request"],
    [[1, 2], 400, "invalid_request"],
    [{ customerId: ok.id, body: "hi" }, 401, "unauthorized", info.tokens.anon],
    [{ customerId: ok.id, body: "hi" }, 401, "unauthorized", info.tokens.serviceRole],
    [{ customerId: bayCustomer.id, body: "hi" }, 404, "customer_not_found"],
    [{ customerId: crypto.randomUUID(), body: "hi" }, 404, "customer_not_found"],
    [{ customerId: optedOut.id, body: "hi" }, 409, "opted_out"],
    [{ customerId: noConsent.id, body: "hi" }, 409, "no_consent"],
    [{ customerId: landline.id, body: "hi" }, 422, "invalid_phone"],
    [{ customerId: invalid.id, body: "hi" }, 422, "invalid_phone"],
    [{ customerId: noPhone.id, body: "hi" }, 422, "invalid_phone"],
    [{ customerId: noCountry.id, body: "hi" }, 422, "invalid_phone"],
    [{ customerId: tooShort.id, body: "hi" }, 422, "invalid_phone"],
    [{ customerId: noAreaCode.id, body: "hi" }, 422, "invalid_phone"],
    [{ customerId: ok.id, body: "x".repeat(307) }, 422, "message_too_long"],
    [{ customerId: ok.id, body: "x".repeat(2000) }, 422, "message_too_long"],
    [{ customerId: ok.id, body: "😀".repeat(70) }, 422, "message_too_long"],
  ];
  for (const [body, status, code, token] of cases) {
    const r = await invoke(body, token);
    assert.equal(
      r.status,
      status,
      `${JSON.stringify(body).slice(0, 60)} → ${JSON.stringify(r.json)}`,
    );
    assert.equal(errorCode(r), code);
    assert.equal(typeof (r.json.error as { message?: unknown }).message, "string");
    assert.ok(errorBodySchema.safeParse(r.json).success, JSON.stringify(r.json));
  }
  for (const c of [noCountry, tooShort, noAreaCode]) {
    assert.equal((await sandbox.messages(c.phone!)).length, 0, c.phone!);
  }
  assert.deepEqual(await dbSnapshot(sql), before);
  assert.equal((await sandbox.messages(ok.phone!)).length, 0);
});

test("409 help_contact_missing: a business without a help contact writes nothing", async (sql) => {
  // A business of its own (no help contact), with the seeded Acme owner as a member.
  const businessId = crypto.randomUUID();
  await sql`insert into public.businesses (id, name) values (${businessId}, 'No Contact Co')`;
  try {
    await sql`insert into public.business_members (business_id, user_id, role)
              values (${businessId}, ${acme.users[0].id}, 'owner')`;
    const c = await createCustomer(sql, { businessId });
    const scoped = async () => {
      const [row] = await sql<{ n: string }[]>`
        select concat_ws(',',
          (select count(*) from public.send_logs where business_id = ${businessId}),
          (select count(*) from sms.retry_queue where business_id = ${businessId}),
          (select count(*) from sms.idempotency_keys where business_id = ${businessId}),
          (select count(*) from sms.quota_usage where business_id = ${businessId})) as n`;
      return row.n;
    };
    const before = await scoped();
    const sentBefore = (await sandbox.messages(c.phone!)).length;
    for (
      const body of [{ customerId: c.id, body: "Hi" }, {
        customerId: c.id,
        body: "Hi",
        idempotencyKey: "help-contact-1",
      }]
    ) {
      const r = await invoke(body);
      assert.equal(r.status, 409, JSON.stringify(r.json));
      assert.equal(errorCode(r), "help_contact_missing");
      assert.ok(errorBodySchema.safeParse(r.json).success, JSON.stringify(r.json));
    }
    assert.equal(await scoped(), before, "nothing written");
    assert.equal((await sandbox.messages(c.phone!)).length, sentBefore, "nothing sent");

    // The check constraint takes a phone, an email or a URL, and nothing else.
    for (const bad of ["reply here", "x", "call us!", "help@", "12345"]) {
      await assert.rejects(
        sql`update public.businesses set sms_help_contact = ${bad} where id = ${businessId}`,
        /businesses_sms_help_contact_check/,
        bad,
      );
    }
    for (
      const good of ["+1 (212) 555-0100", "help@nocontact.test", "https://nocontact.test/help"]
    ) {
      await sql`update public.businesses set sms_help_contact = ${good} where id = ${businessId}`;
    }
    const ok = await invoke({ customerId: c.id, body: "Hi" });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  } finally {
    await sql`delete from public.businesses where id = ${businessId}`;
  }
});

test("message_too_long names the segments and the characters that forced UCS-2", async () => {
  const r = await invoke({
    customerId: crypto.randomUUID(),
    body: "Thanks for coming — see you soon 🎉 " + "x".repeat(100),
  });
  assert.equal(r.status, 422);
  const details = (r.json.error as { details: Record<string, unknown> }).details;
  assert.equal(details.encoding, "UCS-2");
  assert.equal(details.segments, 3);
  assert.deepEqual(details.nonGsmCharacters, ["—", "🎉"]);
});

test("a user of business A cannot send to, or learn of, B's customer", async (sql) => {
  const bCustomer = await createCustomer(sql, { businessId: bay.id });
  const r = await invoke({ customerId: bCustomer.id, body: "hi" });
  const missing = await invoke({ customerId: crypto.randomUUID(), body: "hi" });
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, missing.json, "the same answer as for a customer that does not exist");
  // B's own user can.
  const asB = await invoke(
    { customerId: bCustomer.id, body: "hi" },
    info.tokens.users["owner@bay.test"],
  );
  assert.equal(asB.status, 200, JSON.stringify(asB.json));
});

test("20 concurrent calls with one idempotency key: one SMS, 20 identical answers", async (sql) => {
  const c = await createCustomer(sql);
  const key = crypto.randomUUID();
  const answers = await Promise.all(
    Array.from(
      { length: 20 },
      () => invoke({ customerId: c.id, body: "Once", idempotencyKey: key }),
    ),
  );
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.json));
  const first = JSON.stringify(answers[0].json);
  for (const a of answers) assert.deepEqual(a.json, answers[0].json, first);
  assert.equal((await sandbox.messages(c.phone!)).length, 1);
  const [n] =
    await sql`select count(*)::int as n from public.send_logs where customer_id = ${c.id}`;
  assert.equal(n.n, 1);
  // Same key, different request: refused.
  const other = await invoke({ customerId: c.id, body: "Twice", idempotencyKey: key });
  assert.equal(other.status, 409);
  assert.equal(errorCode(other), "idempotency_conflict");
});

test("magic numbers: each Twilio refusal answers its code and applies its effect", async (sql) => {
  const cases: [string, number, string, number, (id: string) => Promise<void>][] = [
    ["+15005550001", 422, "invalid_phone", 21211, async (id) => {
      const [x] = await sql`select phone_status from public.customers where id = ${id}`;
      assert.equal(x.phone_status, "invalid");
    }],
    ["+15005550002", 422, "provider_rejected", 21612, async (id) => {
      const [x] = await sql`select phone_status, sms_consent_status from public.customers
                             where id = ${id}`;
      assert.deepEqual([x.phone_status, x.sms_consent_status], ["valid", "opted_in"]);
    }],
    ["+15005550003", 422, "provider_rejected", 21408, async () => {}],
    ["+15005550004", 409, "opted_out", 21610, async (id) => {
      const [x] = await sql`select sms_consent_status from public.customers where id = ${id}`;
      assert.equal(x.sms_consent_status, "opted_out");
      const [e] = await sql`select source, error_code from public.sms_consent_events
                             where customer_id = ${id} order by id desc limit 1`;
      assert.deepEqual([e.source, e.error_code], ["provider_error", 21610]);
    }],
    ["+15005550009", 422, "invalid_phone", 21614, async (id) => {
      const [x] = await sql`select phone_status from public.customers where id = ${id}`;
      assert.equal(x.phone_status, "invalid");
    }],
  ];
  for (const [phone, status, code, twilioCode, effect] of cases) {
    const c = await createCustomer(sql, { phone, state: "NY", timeZone: zoneAtLocalHour(13) });
    const r = await invoke({ customerId: c.id, body: "Hello" });
    assert.equal(r.status, status, `${phone}: ${JSON.stringify(r.json)}`);
    assert.equal(errorCode(r), code, phone);
    assert.equal(
      (r.json.error as { details: { twilioCode: number } }).details.twilioCode,
      twilioCode,
    );
    const [log] = await sql`select status, error_code from public.send_logs
                             where customer_id = ${c.id}`;
    assert.deepEqual([log.status, log.error_code], ["failed", twilioCode], phone);
    await effect(c.id);
    await sql`delete from public.customers where id = ${c.id}`;
  }
});

test("injected faults: 5xx and 429 defer with a retry; a timeout defers unresolved", async (sql) => {
  const cases: [Record<string, unknown>, string, boolean][] = [
    [{ rate5xx: 1 }, "provider_unavailable", false],
    [{ rate429: 1 }, "rate_limited", false],
    [{ rateTimeout: 1, timeoutHangMs: 20_000 }, "provider_unavailable", true],
  ];
  for (const [fault, reason, uncertain] of cases) {
    await sandbox.config(fault);
    const c = await createCustomer(sql);
    const r = await invoke({ customerId: c.id, body: "Try later" });
    await sandbox.reset();
    assert.equal(r.status, 202, `${JSON.stringify(fault)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.reason, reason);
    const [q] = await sql`select status, outcome_uncertain, send_log_id from sms.retry_queue
                           where id = ${r.json.retryId as string}`;
    assert.equal(q.status, "pending");
    assert.equal(q.outcome_uncertain, uncertain);
    assert.equal(q.send_log_id, r.json.sendLogId);
    const [log] = await sql`select status from public.send_logs where id = ${r.json
      .sendLogId as string}`;
    // An unresolved send keeps its log as `sending`, so the worker asks Twilio before resending.
    assert.equal(log.status, uncertain ? "sending" : "deferred");
    assert.equal((await sandbox.messages(c.phone!)).length, 0);
    // Leave no due row behind for the other suites' workers.
    await sql`select sms.cancel_retry(${r.json.retryId as string}::uuid, null, 'test done')`;
  }
});

Deno.test("503 sms_disabled without Twilio credentials, nothing written", async () => {
  const sql = createDb(info.dbUrl, { max: 2 });
  const watcher = db(1);
  try {
    const handler = serveFunction(
      "send-sms",
      createSendSmsHandler(
        { env: {}, sql, twilio: null, now: () => new Date() },
        { verify: createVerifier(authConfigFromEnv({ SUPABASE_URL: info.apiUrl })) },
      ),
      { logSink: () => {} },
    );
    const customer = info.seed.customers.find((c) => c.businessId === acme.id)!;
    const before = await dbSnapshot(watcher);
    const res = await handler(
      new Request("http://local/send-sms", {
        method: "POST",
        headers: { authorization: `Bearer ${info.tokens.users["owner@acme.test"]}` },
        body: JSON.stringify({ customerId: customer.id, body: "hi" }),
      }),
    );
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error.code, "sms_disabled");
    assert.deepEqual(await dbSnapshot(watcher), before);
  } finally {
    await sql.end();
    await watcher.end();
  }
});

test("sendSms validates on the client: nothing is sent for a refused body", async (sql) => {
  const c = await createCustomer(sql);
  // A client whose requests would fail if made: validation must answer first.
  const unreachable = {
    functions: {
      invoke: () => Promise.reject(new Error("must not be called")),
    },
  };
  const long = await sendSms(unreachable, { customerId: c.id, body: "y".repeat(400) });
  assert.equal(!long.ok && long.error.code, "message_too_long");
  assert.equal(!long.ok && long.error.details?.segments, 3);
  const bad = await sendSms(unreachable, { customerId: "nope", body: "hi" });
  assert.equal(!bad.ok && bad.error.code, "invalid_request");
  // And a server refusal comes back typed.
  const other = info.seed.customers.find((x) => x.businessId === bay.id)!;
  const r = await sendSms(client, { customerId: other.id, body: "hi" });
  assert.deepEqual(!r.ok && [r.error.code, r.error.status], ["customer_not_found", 404]);
});

test("property: random payloads never get a 500 and refusals write nothing", async (sql) => {
  const refusing = [
    (await createCustomer(sql, { consent: "opted_out" })).id,
    (await createCustomer(sql, { consent: "unknown" })).id,
    (await createCustomer(sql, { phoneStatus: "landline" })).id,
    info.seed.customers.find((x) => x.businessId === bay.id)!.id,
  ];
  const payload = fc.oneof(
    fc.anything(),
    fc.record({
      customerId: fc.oneof(fc.constantFrom(...refusing), fc.uuid(), fc.string()),
      body: fc.oneof(fc.string({ unit: "grapheme", maxLength: 400 }), fc.anything()),
      idempotencyKey: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
    }, { requiredKeys: [] }),
  );
  const before = await dbSnapshot(sql);
  await fc.assert(
    fc.asyncProperty(payload, async (p) => {
      let text: string;
      try {
        text = JSON.stringify(p) ?? "null";
      } catch {
        text = "null";
      }
      const r = await invoke(text);
      assert.ok(r.status >= 400 && r.status < 500, `${r.status} for ${text.slice(0, 100)}`);
      assert.equal(typeof errorCode(r), "string");
    }),
    { numRuns: 150 },
  );
  assert.deepEqual(await dbSnapshot(sql), before);
});

Deno.test("phones are unique per test run", () => {
  assert.notEqual(randomPhone(), randomPhone());
});

test("429 quota_exceeded: concurrent sends never overshoot the daily quota", async (sql) => {
  const [used] = await sql`select count(*)::int as n from public.send_logs
                            where business_id = ${acme.id} and channel = 'sms'
                              and created_at > now() - interval '24 hours'`;
  await sql`update public.businesses set sms_daily_quota = ${used.n + 3} where id = ${acme.id}`;
  try {
    const customers = await Promise.all(Array.from({ length: 10 }, () => createCustomer(sql)));
    const before = await dbSnapshot(sql);
    const answers = await Promise.all(
      customers.map((c) => invoke({ customerId: c.id, body: "Flash sale" })),
    );
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(ok.length, 3, JSON.stringify(answers.map((a) => a.status)));
    assert.equal(refused.length, 7);
    for (const r of refused) assert.equal(errorCode(r), "quota_exceeded");
    const after = await dbSnapshot(sql);
    assert.equal(Number(after.send_logs) - Number(before.send_logs), 3, "refusals wrote no log");
    let sent = 0;
    for (const c of customers) sent += (await sandbox.messages(c.phone!)).length;
    assert.equal(sent, 3);
  } finally {
    await sql`update public.businesses set sms_daily_quota = null where id = ${acme.id}`;
  }
});

// Consent belongs to the number (issue 19) ---------------------------------------------------------

test("a record created or imported as opted in after its number's STOP: 409 opted_out, nothing written", async (sql) => {
  const first = await createCustomer(sql);
  await sql`
    select sms.record_inbound_message(${"SM" + crypto.randomUUID().replaceAll("-", "")},
      ${first.phone}, '+15005550006', 'STOP', 'opt_out', 'stop')`;
  await sql`delete from public.customers where id = ${first.id}`;
  // Re-created by an import (no user), as opted in.
  const imported = await createCustomer(sql, { phone: first.phone, consent: "opted_in" });
  // Created by a member's form (supabase-js: role authenticated, the member's claims).
  const [formRow] = await sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${
      JSON.stringify({ sub: acme.users[0].id, role: "authenticated" })
    }, true)`;
    return await tx<{ id: string; sms_consent_status: string }[]>`
      insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                    sms_consent_at, time_zone, us_state)
      values (${acme.id}, 'From the form', ${first.phone}, 'valid', 'opted_in', now(),
              ${zoneAtLocalHour(13)}, 'NY')
      returning id, sms_consent_status`;
  });
  assert.equal(formRow.sms_consent_status, "opted_out", "the form reads back opted out");
  const before = await dbSnapshot(sql);
  for (const id of [imported.id, formRow.id]) {
    const r = await invoke({ customerId: id, body: "We miss you!" });
    assert.equal(r.status, 409, JSON.stringify(r.json));
    assert.equal(errorCode(r), "opted_out");
  }
  assert.deepEqual(await dbSnapshot(sql), before, "nothing written");
  assert.equal((await sandbox.messages(first.phone!)).length, 0, "nothing texted");
});

test("a phone change resets consent: the new number is not texted on the old one's consent", async (sql) => {
  const c = await createCustomer(sql);
  const newPhone = randomPhone();
  await sql`update public.customers set phone = ${newPhone} where id = ${c.id}`;
  const [row] = await sql`
    select sms_consent_status, phone_status from public.customers where id = ${c.id}`;
  assert.deepEqual({ ...row }, { sms_consent_status: "unknown", phone_status: "unknown" });
  const before = await dbSnapshot(sql);
  const r = await invoke({ customerId: c.id, body: "Hello new number" });
  assert.equal(r.status, 409, JSON.stringify(r.json));
  assert.equal(errorCode(r), "no_consent");
  assert.deepEqual(await dbSnapshot(sql), before, "nothing written");
  assert.equal((await sandbox.messages(newPhone)).length, 0);
  const [event] = await sql`
    select source, phone, details ->> 'from_phone' as from_phone from public.sms_consent_events
     where customer_id = ${c.id} and source = 'phone_change'`;
  assert.deepEqual({ ...event }, { source: "phone_change", phone: newPhone, from_phone: c.phone });
});

test("422 country_not_permitted: a number outside the business's countries, nothing written", async (sql) => {
  // Acme keeps the default permissions: the US and its territories.
  const [acmeRow] = await sql`
    select sms_allowed_countries from public.businesses where id = ${acme.id}`;
  assert.deepEqual(acmeRow.sms_allowed_countries, ["US", "PR", "VI", "GU", "AS", "MP"]);
  const london = await createCustomer(sql, {
    phone: "+447400123457",
    timeZone: "Europe/London",
    state: null,
  });
  const toronto = await createCustomer(sql, { phone: "+14162345678", state: null });
  const sanJuan = await createCustomer(sql, { phone: "+17872345678", state: null });
  const before = await dbSnapshot(sql);
  for (const c of [london, toronto]) {
    const r = await invoke({ customerId: c.id, body: "hi", idempotencyKey: crypto.randomUUID() });
    assert.equal(r.status, 422, JSON.stringify(r.json));
    assert.equal(errorCode(r), "country_not_permitted");
    assert.ok(errorBodySchema.safeParse(r.json).success, JSON.stringify(r.json));
    assert.equal((await sandbox.messages(c.phone!)).length, 0);
  }
  assert.deepEqual(await dbSnapshot(sql), before);
  // Puerto Rico is a US territory: permitted by default (sent or deferred, not refused).
  const pr = await invoke({ customerId: sanJuan.id, body: "hi" });
  assert.ok([200, 202].includes(pr.status), JSON.stringify(pr.json));
});

test("a permitted country's number with no zone waits for 08:00 in that country (London)", async (sql) => {
  // A business of its own that may text Great Britain; owner@acme is its owner.
  const businessId = crypto.randomUUID();
  await sql`
    insert into public.businesses (id, name, sms_allowed_countries, sms_help_contact)
    values (${businessId}, 'Intl test', '{US,GB}', 'help@intl.test')`;
  await sql`
    insert into public.business_members (business_id, user_id, role)
    select ${businessId}, m.user_id, 'owner' from public.business_members m
     where m.business_id = ${acme.id} and m.role = 'owner' limit 1`;
  const pool = createDb(info.dbUrl, { max: 2 });
  try {
    const c = await createCustomer(sql, {
      businessId,
      phone: "+447400123456",
      timeZone: null,
      state: null,
    });
    // 02:30 BST on 1 July 2026: New York's 21:30 would not do either, but a US fallback
    // (Honolulu 15:30) would have sent it.
    const now = new Date("2026-07-01T01:30:00Z");
    const env = functionEnv(info);
    const handler = serveFunction(
      "send-sms",
      createSendSmsHandler(
        { env, sql: pool, twilio: createTwilioClient(loadTwilioConfig(env)!), now: () => now },
        { verify: createVerifier(authConfigFromEnv({ SUPABASE_URL: info.apiUrl })) },
      ),
      { logSink: () => {} },
    );
    const res = await handler(
      new Request("http://local/send-sms", {
        method: "POST",
        headers: { authorization: `Bearer ${info.tokens.users["owner@acme.test"]}` },
        body: JSON.stringify({ customerId: c.id, body: "Hello from across the pond" }),
      }),
    );
    const body = await res.json();
    assert.equal(res.status, 202, JSON.stringify(body));
    assert.ok(sendSmsDeferredResponseSchema.safeParse(body).success, JSON.stringify(body));
    assert.equal(body.reason, "quiet_hours");
    // 08:00 BST = 07:00 UTC.
    assert.equal(body.scheduledFor, "2026-07-01T07:00:00.000Z");
    assert.equal((await sandbox.messages(c.phone!)).length, 0);
  } finally {
    await pool.end();
    await sql`delete from public.businesses where id = ${businessId}`;
  }
});
