import assert from "node:assert/strict";
import twilio from "twilio";
import { SegmentedMessage } from "sms-segments-calculator";
import { type Sandbox, type SandboxOptions, startSandbox } from "../../local/sandbox/server.ts";
import { createSandboxTwilioClient } from "../../local/sandbox/twilio-client.ts";
import { twilioPrice } from "../../local/sandbox/pricing.ts";
import { DEFAULT_CONFIG } from "../../local/sandbox/config.ts";
import { pickLatencyMs } from "../../local/sandbox/faults.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const AUTH_TOKEN = "fedcba9876543210".repeat(2);
const SERVICE_SID = "MG" + "ab".repeat(16);
const FROM = "+16465001111";
const OTHER_FROM = "+16465002222";
const TO = "+16465654321";
const SID = /^SM[0-9a-f]{32}$/;
const RFC2822 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/;
const BASE = `/2010-04-01/Accounts/${ACCOUNT_SID}`;

/** A request the receiver got from the sandbox. */
interface Received {
  url: string;
  path: string;
  params: Record<string, string>;
  signature: string | null;
  idempotencyToken: string | null;
  contentType: string | null;
}

/** A small app stand-in that records status callbacks and inbound webhooks. */
interface Receiver {
  url: string;
  received: Received[];
  answer: { status: number; contentType: string; body: string };
  close(): Promise<void>;
}

function startReceiver(): Receiver {
  const received: Received[] = [];
  const receiver: Receiver = {
    url: "",
    received,
    answer: { status: 200, contentType: "text/xml", body: "<Response/>" },
    close: () => server.shutdown(),
  };
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const params = Object.fromEntries(new URLSearchParams(await req.text()));
    received.push({
      url: `${receiver.url}${url.pathname}${url.search}`,
      path: url.pathname,
      params,
      signature: req.headers.get("x-twilio-signature"),
      idempotencyToken: req.headers.get("i-twilio-idempotency-token"),
      contentType: req.headers.get("content-type"),
    });
    const { status, contentType, body } = receiver.answer;
    return new Response(body, { status, headers: { "content-type": contentType } });
  });
  receiver.url = `http://127.0.0.1:${server.addr.port}`;
  return receiver;
}

interface Harness {
  sandbox: Sandbox;
  receiver: Receiver;
  /** Calls the sandbox and returns the status and parsed JSON (or text) body. */
  call(
    method: string,
    path: string,
    init?: { form?: Record<string, string>; json?: unknown; auth?: string | null },
  ): Promise<{ status: number; body: Record<string, unknown> & { [k: string]: unknown } }>;
  /** POSTs a create request with the right credentials. */
  send(form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }>;
  configure(patch: Record<string, unknown>): Promise<void>;
}

const BASIC = "Basic " + btoa(`${ACCOUNT_SID}:${AUTH_TOKEN}`);

async function withSandbox(
  fn: (h: Harness) => Promise<void>,
  options: Partial<SandboxOptions> = {},
): Promise<void> {
  const receiver = startReceiver();
  const sandbox = await startSandbox({
    port: 0,
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    phoneNumbers: [FROM, OTHER_FROM],
    messagingServiceSid: SERVICE_SID,
    inboundWebhookUrl: `${receiver.url}/functions/v1/twilio-webhook`,
    config: { callbackDelayMs: 5 },
    ...options,
  });
  const call: Harness["call"] = async (method, path, init = {}) => {
    const headers = new Headers();
    if (init.auth !== null) headers.set("authorization", init.auth ?? BASIC);
    let body: string | undefined;
    if (init.form) {
      headers.set("content-type", "application/x-www-form-urlencoded");
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers.set("content-type", "application/json");
      body = typeof init.json === "string" ? init.json : JSON.stringify(init.json);
    }
    const res = await fetch(sandbox.url + path, { method, headers, body });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { text };
    }
    return { status: res.status, body: parsed };
  };
  const harness: Harness = {
    sandbox,
    receiver,
    call,
    send: (form) => call("POST", `${BASE}/Messages.json`, { form }),
    configure: async (patch) => {
      const res = await call("POST", "/api/config", { json: patch });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    },
  };
  try {
    await fn(harness);
  } finally {
    await sandbox.close();
    await receiver.close();
  }
}

function assertTwilioError(
  res: { status: number; body: Record<string, unknown> },
  status: number,
  code: number,
): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.code, code);
  assert.equal(res.body.status, status);
  assert.equal(res.body.more_info, `https://www.twilio.com/docs/errors/${code}`);
  assert.equal(typeof res.body.message, "string");
}

function assertSigned(r: Received): void {
  assert.ok(r.signature, "X-Twilio-Signature header");
  assert.ok(twilio.validateRequest(AUTH_TOKEN, r.signature, r.url, r.params), "valid signature");
  assert.equal(twilio.validateRequest("0".repeat(32), r.signature, r.url, r.params), false);
  assert.equal(r.contentType, "application/x-www-form-urlencoded");
}

Deno.test("magic To numbers give Twilio's error codes", async () => {
  await withSandbox(async ({ send, call }) => {
    const cases: [string, number][] = [
      ["+15005550001", 21211],
      ["+15005550002", 21612],
      ["+15005550003", 21408],
      ["+15005550004", 21610],
      ["+15005550009", 21614],
    ];
    for (const [to, code] of cases) {
      assertTwilioError(await send({ To: to, From: FROM, Body: "hi" }), 400, code);
    }
    // Magic From numbers from the same test-credentials page.
    assertTwilioError(await send({ To: TO, From: "+15005550001", Body: "hi" }), 400, 21212);
    assertTwilioError(await send({ To: TO, From: "+15005550007", Body: "hi" }), 400, 21606);
    assertTwilioError(await send({ To: TO, From: "+15005550008", Body: "hi" }), 400, 21611);
    assert.equal((await send({ To: TO, From: "+15005550006", Body: "hi" })).status, 201);
    const messages = await call("GET", "/api/messages");
    assert.equal((messages.body as unknown as unknown[]).length, 1);
  });
});

Deno.test("authentication: wrong or missing credentials are 401 20003", async () => {
  await withSandbox(async ({ call }) => {
    const form = { To: TO, From: FROM, Body: "hi" };
    const path = `${BASE}/Messages.json`;
    const wrongToken = "Basic " + btoa(`${ACCOUNT_SID}:${"1".repeat(32)}`);
    const wrongUser = "Basic " + btoa(`AC${"9".repeat(32)}:${AUTH_TOKEN}`);
    for (const auth of [null, wrongToken, wrongUser, "Basic !!!", "Bearer abc"]) {
      assertTwilioError(await call("POST", path, { form, auth }), 401, 20003);
    }
    assertTwilioError(await call("GET", path, { auth: null }), 401, 20003);
    // Valid credentials, another account's path.
    const other = `/2010-04-01/Accounts/AC${"9".repeat(32)}/Messages.json`;
    assertTwilioError(await call("POST", other, { form }), 404, 20404);
    const attempts = await call("GET", "/api/attempts");
    const outcomes = (attempts.body as unknown as { outcome: string }[]).map((a) => a.outcome);
    assert.deepEqual(outcomes, Array(5).fill("unauthorized"));
  });
});

Deno.test("a normal send returns Twilio's shape and signed callbacks sent then delivered", async () => {
  await withSandbox(async ({ send, call, sandbox, receiver }) => {
    const statusCallback = `${receiver.url}/functions/v1/twilio-webhook?kind=status`;
    const body = "Thanks for visiting! Reply STOP to opt out. €".repeat(4);
    const res = await send({ To: TO, From: FROM, Body: body, StatusCallback: statusCallback });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const m = res.body;
    assert.match(String(m.sid), SID);
    assert.equal(m.account_sid, ACCOUNT_SID);
    assert.equal(m.api_version, "2010-04-01");
    assert.equal(m.body, body);
    assert.match(String(m.date_created), RFC2822);
    assert.match(String(m.date_updated), RFC2822);
    assert.equal(m.date_sent, null);
    assert.equal(m.direction, "outbound-api");
    assert.equal(m.error_code, null);
    assert.equal(m.error_message, null);
    assert.equal(m.from, FROM);
    assert.equal(m.to, TO);
    assert.equal(m.messaging_service_sid, null);
    assert.equal(m.num_media, "0");
    assert.equal(m.num_segments, String(new SegmentedMessage(body).segmentsCount));
    assert.equal(m.num_segments, "2");
    assert.equal(m.price, null);
    assert.equal(m.price_unit, "USD");
    assert.equal(m.status, "queued");
    assert.equal(m.uri, `${BASE}/Messages/${m.sid}.json`);
    assert.deepEqual(m.subresource_uris, { media: `${BASE}/Messages/${m.sid}/Media.json` });

    await sandbox.idle();
    const callbacks = receiver.received;
    assert.deepEqual(callbacks.map((c) => c.params.MessageStatus), ["sent", "delivered"]);
    for (const c of callbacks) {
      assertSigned(c);
      assert.equal(c.params.MessageSid, m.sid);
      assert.equal(c.params.SmsSid, m.sid);
      assert.equal(c.params.SmsStatus, c.params.MessageStatus);
      assert.equal(c.params.AccountSid, ACCOUNT_SID);
      assert.equal(c.params.From, FROM);
      assert.equal(c.params.To, TO);
      assert.equal(c.params.ApiVersion, "2010-04-01");
      assert.equal(c.params.ErrorCode, undefined);
      assert.equal(c.params.MessagingServiceSid, undefined);
    }
    assert.match(callbacks[1].params.RawDlrDoneDate, /^\d{10}$/);
    assert.ok(callbacks[0].idempotencyToken);
    assert.notEqual(callbacks[0].idempotencyToken, callbacks[1].idempotencyToken);

    const fetched = await call("GET", `${BASE}/Messages/${m.sid}.json`);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.status, "delivered");
    assert.match(String(fetched.body.date_sent), RFC2822);
    // Priced once sent, on the resource only (no callback carries it): 2 segments × $0.0083.
    assert.equal(fetched.body.price, "-0.01660");
    assert.equal(fetched.body.price_unit, "USD");
    assert.ok(callbacks.every((c) => !("Price" in c.params) && !("price" in c.params)));

    const listed = (await call("GET", "/api/messages")).body as unknown as {
      sid: string;
      status: string;
      status_callback: string;
      timeline: { status: string; callback: { httpStatus: number } | null }[];
    }[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0].status_callback, statusCallback);
    assert.deepEqual(listed[0].timeline.map((t) => [t.status, t.callback?.httpStatus ?? null]), [
      ["queued", null],
      ["sent", 200],
      ["delivered", 200],
    ]);
  });
});

Deno.test("a Messaging Service send is accepted, then queued, sent, delivered", async () => {
  await withSandbox(async ({ send, sandbox, receiver }) => {
    const res = await send({
      To: TO,
      MessagingServiceSid: SERVICE_SID,
      Body: "hello",
      StatusCallback: `${receiver.url}/status`,
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.status, "accepted");
    assert.equal(res.body.from, null);
    assert.equal(res.body.messaging_service_sid, SERVICE_SID);
    await sandbox.idle();
    assert.deepEqual(receiver.received.map((c) => c.params.MessageStatus), [
      "queued",
      "sent",
      "delivered",
    ]);
    for (const c of receiver.received) {
      assertSigned(c);
      assert.equal(c.params.MessagingServiceSid, SERVICE_SID);
      assert.equal(c.params.From, FROM);
    }
    const bad = await send({ To: TO, MessagingServiceSid: "MG" + "0".repeat(32), Body: "x" });
    assertTwilioError(bad, 400, 21705);
  });
});

Deno.test("configured failure numbers end undelivered or failed with ErrorCode", async () => {
  await withSandbox(async ({ send, call, configure, sandbox, receiver }) => {
    const undeliveredTo = "+16465110001";
    const failedTo = "+16465110002";
    await configure({
      failures: {
        [undeliveredTo]: { status: "undelivered", errorCode: 30003 },
        [failedTo]: { status: "failed", errorCode: 30008 },
      },
    });
    const cb = `${receiver.url}/status`;
    const a = await send({ To: undeliveredTo, From: FROM, Body: "a", StatusCallback: cb });
    const b = await send({ To: failedTo, From: FROM, Body: "b", StatusCallback: cb });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    await sandbox.idle();
    const forSid = (sid: unknown) => receiver.received.filter((r) => r.params.MessageSid === sid);
    const undelivered = forSid(a.body.sid);
    assert.deepEqual(undelivered.map((r) => r.params.MessageStatus), ["sent", "undelivered"]);
    assert.equal(undelivered[1].params.ErrorCode, "30003");
    assert.equal(undelivered[0].params.ErrorCode, undefined);
    const failed = forSid(b.body.sid);
    assert.deepEqual(failed.map((r) => r.params.MessageStatus), ["failed"]);
    assert.equal(failed[0].params.ErrorCode, "30008");
    receiver.received.forEach(assertSigned);

    const fa = await call("GET", `${BASE}/Messages/${a.body.sid}.json`);
    assert.equal(fa.body.status, "undelivered");
    assert.equal(fa.body.error_code, 30003);
    assert.equal(fa.body.price, "-0.00830", "undelivered was sent: charged");
    const fb = await call("GET", `${BASE}/Messages/${b.body.sid}.json`);
    assert.equal(fb.body.status, "failed");
    assert.equal(fb.body.error_code, 30008);
    assert.equal(fb.body.date_sent, null);
    assert.equal(fb.body.price, null, "never sent: not charged");
  });
});

Deno.test("prices: Twilio's string, in hundred-thousandths", () => {
  assert.equal(twilioPrice(3, 0.0083), "-0.02490");
  assert.equal(twilioPrice(1, 0.0079), "-0.00790");
  assert.equal(twilioPrice(2, 0), "0.00000");
});

Deno.test("prices: per-segment price from the config, and messages left unpriced", async () => {
  await withSandbox(async ({ send, call, configure, sandbox }) => {
    const unpriced = "+16465110003";
    await configure({ pricePerSegment: 0.0079, unpricedTo: [unpriced] });
    const a = await send({ To: TO, From: FROM, Body: "x".repeat(200) });
    const b = await send({ To: unpriced, From: FROM, Body: "y" });
    await sandbox.idle();
    const fa = await call("GET", `${BASE}/Messages/${a.body.sid}.json`);
    assert.equal(fa.body.status, "delivered");
    assert.equal(fa.body.price, "-0.01580");
    const fb = await call("GET", `${BASE}/Messages/${b.body.sid}.json`);
    assert.equal(fb.body.status, "delivered");
    assert.equal(fb.body.price, null);
    // A price once set does not change with the configuration.
    await configure({ pricePerSegment: null });
    const again = await call("GET", `${BASE}/Messages/${a.body.sid}.json`);
    assert.equal(again.body.price, "-0.01580");
    const listed = await call("GET", `${BASE}/Messages.json?To=${encodeURIComponent(TO)}`);
    const page = listed.body as unknown as { messages: { sid: string; price: string | null }[] };
    assert.equal(page.messages.find((m) => m.sid === a.body.sid)?.price, "-0.01580");
    const refused = await call("POST", "/api/config", { json: { pricePerSegment: -1 } });
    assert.equal(refused.status, 400);
  });
});

Deno.test("create validation errors use Twilio's codes", async () => {
  await withSandbox(async ({ send, call }) => {
    assertTwilioError(await send({ From: FROM, Body: "x" }), 400, 21604);
    assertTwilioError(await send({ To: TO, Body: "x" }), 400, 21603);
    assertTwilioError(await send({ To: TO, From: FROM }), 400, 21602);
    assertTwilioError(await send({ To: TO, From: FROM, Body: "" }), 400, 21602);
    assertTwilioError(await send({ To: TO, From: "+16465999999", Body: "x" }), 400, 21606);
    assertTwilioError(await send({ To: TO, From: FROM, Body: "x".repeat(1601) }), 400, 21617);
    assert.equal((await send({ To: TO, From: FROM, Body: "x".repeat(1600) })).status, 201);
    assertTwilioError(await send({ To: "12345", From: FROM, Body: "x" }), 400, 21211);
    for (const v of ["0", "36001", "abc", "1.5"]) {
      assertTwilioError(
        await send({ To: TO, From: FROM, Body: "x", ValidityPeriod: v }),
        400,
        21624,
      );
    }
    const ok = await send({ To: TO, From: FROM, Body: "x", ValidityPeriod: "36000" });
    assert.equal(ok.status, 201);
    assertTwilioError(
      await send({ To: TO, From: FROM, Body: "x", StatusCallback: "not a url" }),
      400,
      21609,
    );
    // A JSON body is not a form: Twilio sees no parameters.
    const jsonBody = await call("POST", `${BASE}/Messages.json`, { json: { To: TO } });
    assertTwilioError(jsonBody, 400, 21604);
    const attempts = (await call("GET", "/api/attempts")).body as unknown as {
      outcome: string;
    }[];
    assert.equal(attempts.filter((a) => a.outcome === "rejected").length, 13);
    assert.equal(attempts.filter((a) => a.outcome === "created").length, 2);
  });
});

Deno.test("a To number no numbering plan has is 21211, as Twilio answers (libphonenumber)", async () => {
  await withSandbox(async ({ send, call }) => {
    // Well-formed E.164 all three: no country uses 999, too short for France, 555 is no area
    // code in service.
    for (const to of ["+99912345678", "+331234567", "+15557654321"]) {
      assertTwilioError(await send({ To: to, From: FROM, Body: "x" }), 400, 21211);
    }
    assert.equal((await send({ To: "+33612345678", From: FROM, Body: "x" })).status, 201);
    // Twilio's magic numbers keep their own errors (and +15005550006 is a valid To).
    assertTwilioError(await send({ To: "+15005550009", From: FROM, Body: "x" }), 400, 21614);
    assert.equal((await send({ To: "+15005550006", From: FROM, Body: "x" })).status, 201);
    const messages = (await call("GET", "/api/messages")).body as unknown as { to: string }[];
    assert.deepEqual(messages.map((m) => m.to).sort(), ["+15005550006", "+33612345678"]);
  });
});

Deno.test("the list API filters by To, From and DateSent, newest first, paged", async () => {
  await withSandbox(async ({ send, call, sandbox }) => {
    const other = "+16465650000";
    const sids: string[] = [];
    for (const [to, from] of [[TO, FROM], [other, FROM], [TO, OTHER_FROM]]) {
      const res = await send({ To: to, From: from, Body: `to ${to}` });
      assert.equal(res.status, 201);
      sids.push(String(res.body.sid));
    }
    await sandbox.idle();
    type Page = {
      messages: { sid: string; to: string; from: string }[];
      page: number;
      page_size: number;
      start: number;
      end: number;
      uri: string;
      first_page_uri: string;
      next_page_uri: string | null;
      previous_page_uri: string | null;
    };
    const list = async (query: Record<string, string>) => {
      const res = await call("GET", `${BASE}/Messages.json?${new URLSearchParams(query)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as unknown as Page;
    };
    const all = await list({});
    assert.deepEqual(all.messages.map((m) => m.sid), [...sids].reverse());
    assert.equal(all.page, 0);
    assert.equal(all.page_size, 50);
    assert.equal(all.start, 0);
    assert.equal(all.end, 2);
    assert.equal(all.next_page_uri, null);
    assert.equal(all.previous_page_uri, null);
    assert.ok(all.first_page_uri.startsWith(`${BASE}/Messages.json?`));

    assert.deepEqual((await list({ To: TO })).messages.map((m) => m.sid), [sids[2], sids[0]]);
    assert.deepEqual((await list({ From: FROM })).messages.map((m) => m.sid), [sids[1], sids[0]]);
    assert.deepEqual((await list({ To: TO, From: FROM })).messages.map((m) => m.sid), [sids[0]]);

    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    assert.equal((await list({ DateSent: today })).messages.length, 3);
    assert.equal((await list({ DateSent: yesterday })).messages.length, 0);
    assert.equal((await list({ "DateSent<": today })).messages.length, 3);
    assert.equal((await list({ "DateSent<": yesterday })).messages.length, 0);
    assert.equal((await list({ "DateSent>": today })).messages.length, 3);
    assert.equal((await list({ "DateSent>": tomorrow })).messages.length, 0);
    // twilio-node sends full timestamps for Date values.
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
    assert.equal((await list({ "DateSent>": hourAgo, To: TO })).messages.length, 2);
    assert.equal((await list({ "DateSent<": hourAgo })).messages.length, 0);

    const bad = await call("GET", `${BASE}/Messages.json?DateSent=yesterday`);
    assertTwilioError(bad, 400, 20001);

    const first = await list({ PageSize: "2" });
    assert.deepEqual(first.messages.map((m) => m.sid), [sids[2], sids[1]]);
    assert.ok(first.next_page_uri);
    const next = await call("GET", first.next_page_uri);
    const second = next.body as unknown as Page;
    assert.deepEqual(second.messages.map((m) => m.sid), [sids[0]]);
    assert.equal(second.page, 1);
    assert.equal(second.start, 2);
    assert.equal(second.next_page_uri, null);
    assert.ok(second.previous_page_uri);

    assertTwilioError(await call("GET", `${BASE}/Messages/SM${"0".repeat(32)}.json`), 404, 20404);
  });
});

Deno.test("/api/inbound posts a signed inbound webhook and returns its answer", async () => {
  await withSandbox(async ({ call, send, receiver, configure }) => {
    const handset = "+16465334444";
    receiver.answer = {
      status: 200,
      contentType: "text/xml",
      body: "<Response><Message>Thanks</Message></Response>",
    };
    const res = await call("POST", "/api/inbound", {
      json: { from: handset, to: FROM, body: "Is this open on Sunday?" },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 200);
    assert.equal(res.body.contentType, "text/xml");
    assert.equal(res.body.body, "<Response><Message>Thanks</Message></Response>");
    const hook = receiver.received[0];
    assert.equal(hook.path, "/functions/v1/twilio-webhook");
    assertSigned(hook);
    assert.match(hook.params.MessageSid, SID);
    assert.equal(hook.params.SmsMessageSid, hook.params.MessageSid);
    assert.equal(hook.params.SmsSid, hook.params.MessageSid);
    assert.equal(hook.params.AccountSid, ACCOUNT_SID);
    assert.equal(hook.params.MessagingServiceSid, SERVICE_SID);
    assert.equal(hook.params.From, handset);
    assert.equal(hook.params.To, FROM);
    assert.equal(hook.params.Body, "Is this open on Sunday?");
    assert.equal(hook.params.NumMedia, "0");
    assert.equal(hook.params.NumSegments, "1");
    assert.equal(hook.params.SmsStatus, "received");
    assert.equal(hook.params.ApiVersion, "2010-04-01");
    assert.equal(hook.params.OptOutType, undefined);

    // Advanced Opt-Out tags keywords; Twilio then refuses sends to the opted-out handset.
    await configure({ advancedOptOut: true });
    const stop = await call("POST", "/api/inbound", { json: { from: handset, body: " stop " } });
    assert.equal(stop.status, 200);
    assert.equal(receiver.received[1].params.OptOutType, "STOP");
    assertSigned(receiver.received[1]);
    assertTwilioError(await send({ To: handset, From: FROM, Body: "promo" }), 400, 21610);
    assert.equal((await send({ To: handset, From: OTHER_FROM, Body: "other sender" })).status, 201);
    await call("POST", "/api/inbound", { json: { from: handset, body: "HELP" } });
    assert.equal(receiver.received[2].params.OptOutType, "HELP");
    await call("POST", "/api/inbound", { json: { from: handset, body: "START" } });
    assert.equal(receiver.received[3].params.OptOutType, "START");
    assert.equal((await send({ To: handset, From: FROM, Body: "welcome back" })).status, 201);

    const inbound = (await call("GET", "/api/inbound")).body as unknown as { direction: string }[];
    assert.equal(inbound.length, 4);
    assert.ok(inbound.every((m) => m.direction === "inbound"));

    assert.equal((await call("POST", "/api/inbound", { json: "{nope" })).status, 400);
    assert.equal(
      (await call("POST", "/api/inbound", { json: { from: "x", body: "" } })).status,
      400,
    );
    assert.equal(
      (await call("POST", "/api/inbound", { json: { from: handset, to: TO, body: "" } })).status,
      400,
    );
  });
});

Deno.test("fault injection: 429 and 5xx with Twilio bodies, recorded, no message created", async () => {
  await withSandbox(async ({ send, call, configure }) => {
    await configure({ rate429: 1 });
    for (let i = 0; i < 3; i++) {
      assertTwilioError(await send({ To: TO, From: FROM, Body: "x" }), 429, 20429);
    }
    await configure({ rate429: 0, rate5xx: 1 });
    for (let i = 0; i < 4; i++) {
      const res = await send({ To: TO, From: FROM, Body: "x" });
      assert.ok(res.status === 500 || res.status === 503, String(res.status));
      assertTwilioError(res, res.status, res.status === 500 ? 20500 : 20503);
    }
    const attempts = (await call("GET", "/api/attempts")).body as unknown as {
      outcome: string;
      to: string;
    }[];
    assert.equal(attempts.filter((a) => a.outcome === "rate_limited").length, 3);
    assert.equal(attempts.filter((a) => a.outcome === "server_error").length, 4);
    assert.ok(attempts.every((a) => a.to === TO));
    assert.deepEqual((await call("GET", "/api/messages")).body, []);

    await configure({ reset: true });
    assert.equal((await send({ To: TO, From: FROM, Body: "x" })).status, 201);
  });
});

Deno.test("keep-alive: an idle connection outlives node:http's 5 s, as a load balancer's does", async () => {
  await withSandbox(async ({ sandbox }) => {
    const url = new URL(sandbox.url);
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    // One request on the connection, its answer read whole (by its content-length).
    const ask = async () => {
      await conn.write(new TextEncoder().encode(
        `GET /api/attempts HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${BASIC}\r\n\r\n`,
      ));
      let text = "";
      const buffer = new Uint8Array(65_536);
      while (true) {
        const head = text.indexOf("\r\n\r\n");
        const length = /content-length: (\d+)/i.exec(text)?.[1];
        if (head >= 0 && length !== undefined && text.length >= head + 4 + Number(length)) break;
        const n = await conn.read(buffer);
        if (n === null) return null;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      return text.split("\r\n")[0];
    };
    try {
      assert.equal(await ask(), "HTTP/1.1 200 OK");
      // The idle time is what is tested: past node:http's default keep-alive of 5 s.
      await new Promise((r) => setTimeout(r, 6_000));
      assert.equal(await ask(), "HTTP/1.1 200 OK", "the connection is still open");
    } finally {
      conn.close();
    }
  });
});

Deno.test("fault injection: a timeout holds the request, then drops it with no answer", async () => {
  await withSandbox(async ({ sandbox, call, configure }) => {
    await configure({ rateTimeout: 1, timeoutHangMs: 150 });
    const started = performance.now();
    // A fresh connection: Deno's fetch silently re-sends a request once when a reused keep-alive
    // connection is dropped before any answer, which would show up here as a second attempt.
    const client = Deno.createHttpClient({});
    try {
      await assert.rejects(
        fetch(`${sandbox.url}${BASE}/Messages.json`, {
          method: "POST",
          headers: { authorization: BASIC, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ To: TO, From: FROM, Body: "x" }),
          client,
        }).then((res) => res.text()),
      );
    } finally {
      client.close();
    }
    assert.ok(performance.now() - started >= 140);
    const attempts = (await call("GET", "/api/attempts")).body as unknown as {
      outcome: string;
      httpStatus: number | null;
    }[];
    assert.deepEqual(attempts.map((a) => [a.outcome, a.httpStatus]), [["timeout", null]]);
    assert.deepEqual((await call("GET", "/api/messages")).body, []);

    // A client that gives up first releases the held request at once.
    await configure({ timeoutHangMs: 60_000 });
    const controller = new AbortController();
    const pending = fetch(`${sandbox.url}${BASE}/Messages.json`, {
      method: "POST",
      headers: { authorization: BASIC },
      body: new URLSearchParams({ To: TO, From: FROM, Body: "x" }),
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending);
  });
});

Deno.test("latency delays creates", async () => {
  await withSandbox(async ({ send, configure }) => {
    await configure({ latencyMs: 120 });
    const started = performance.now();
    assert.equal((await send({ To: TO, From: FROM, Body: "x" })).status, 201);
    assert.ok(performance.now() - started >= 110);
  });
});

Deno.test("a create whose client leaves during the latency is an attempt with no answer", async () => {
  await withSandbox(async ({ sandbox, call, configure }) => {
    await configure({ latencyMs: 60_000 });
    const before = Date.now();
    // The client's own timeout, as process-retries's Twilio client has one (15 s).
    await assert.rejects(
      fetch(`${sandbox.url}${BASE}/Messages.json`, {
        method: "POST",
        headers: { authorization: BASIC },
        body: new URLSearchParams({ To: TO, From: FROM, Body: "x" }),
        signal: AbortSignal.timeout(500),
      }),
    );
    type Attempt = { outcome: string; httpStatus: number | null; to: string; receivedAt: string };
    let attempts: Attempt[] = [];
    for (let i = 0; i < 500 && attempts.length === 0; i++) {
      attempts = (await call("GET", "/api/attempts")).body as unknown as Attempt[];
      if (attempts.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(attempts.map((a) => [a.outcome, a.httpStatus, a.to]), [["timeout", null, TO]]);
    const received = Date.parse(attempts[0].receivedAt);
    assert.ok(received >= before - 1 && received < before + 500, "recorded when it arrived");
    assert.deepEqual((await call("GET", "/api/messages")).body, [], "no message created");
  });
});

Deno.test("a latency distribution: median latencyMs, 1% above latencyP99Ms", () => {
  const config = { ...DEFAULT_CONFIG, latencyMs: 150, latencyP99Ms: 1500 };
  // A fixed-seed generator (mulberry32), so the test is the same on every run.
  let seed = 42;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const draws = Array.from({ length: 20_000 }, () => pickLatencyMs(config, random))
    .sort((a, b) => a - b);
  const median = draws[draws.length / 2];
  const slow = draws.filter((ms) => ms > 1500).length / draws.length;
  assert.ok(median >= 140 && median <= 160, `median ${median}`);
  assert.ok(slow >= 0.007 && slow <= 0.013, `share above 1.5 s: ${slow}`);
  assert.ok(draws[0] >= 0);
  // Without a p99 every create waits exactly latencyMs.
  assert.equal(pickLatencyMs({ ...config, latencyP99Ms: null }, random), 150);
});

Deno.test("shuffled order and duplicates: same token on re-delivery, status never regresses", async () => {
  // With random() = 0 every delivery is duplicated and the shuffle turns
  // [sent, sent', delivered, delivered'] into [sent', delivered, delivered', sent].
  await withSandbox(async ({ send, call, configure, sandbox, receiver }) => {
    await configure({ callbackOrder: "shuffled", duplicateRate: 1 });
    const res = await send({ To: TO, From: FROM, Body: "x", StatusCallback: `${receiver.url}/s` });
    await sandbox.idle();
    const statuses = receiver.received.map((r) => r.params.MessageStatus);
    assert.deepEqual(statuses, ["sent", "delivered", "delivered", "sent"]);
    const tokens = new Map<string, Set<string | null>>();
    for (const r of receiver.received) {
      assertSigned(r);
      tokens.set(
        r.params.MessageStatus,
        (tokens.get(r.params.MessageStatus) ?? new Set()).add(
          r.idempotencyToken,
        ),
      );
    }
    const deliveredTwice = receiver.received.filter((r) => r.params.MessageStatus === "delivered");
    assert.deepEqual(deliveredTwice[0].params, deliveredTwice[1].params);
    assert.equal(deliveredTwice[0].signature, deliveredTwice[1].signature);
    assert.equal(tokens.get("sent")?.size, 1);
    assert.equal(tokens.get("delivered")?.size, 1);
    assert.notDeepEqual(tokens.get("sent"), tokens.get("delivered"));
    const fetched = await call("GET", `${BASE}/Messages/${res.body.sid}.json`);
    assert.equal(fetched.body.status, "delivered");
  }, { random: () => 0 });
});

Deno.test("lost callbacks: the message moves on unreported, and a fetch shows where it is", async () => {
  const LOST = "+16465650001";
  const LOST_UNDELIVERED = "+16465650002";
  await withSandbox(async ({ send, call, configure, sandbox, receiver }) => {
    await configure({
      dropCallbacksTo: [LOST, LOST_UNDELIVERED],
      failures: { [LOST_UNDELIVERED]: { status: "undelivered", errorCode: 30003 } },
    });
    const cb = { From: FROM, Body: "x", StatusCallback: `${receiver.url}/s` };
    const lost = await send({ ...cb, To: LOST });
    const lostUndelivered = await send({ ...cb, To: LOST_UNDELIVERED });
    const kept = await send({ ...cb, To: TO });
    await sandbox.idle();
    assert.deepEqual(
      receiver.received.map((r) => [r.params.MessageSid, r.params.MessageStatus]),
      [[kept.body.sid, "sent"], [kept.body.sid, "delivered"]],
      "only the number not listed gets its callbacks",
    );
    const a = await call("GET", `${BASE}/Messages/${lost.body.sid}.json`);
    assert.equal(a.status, 200);
    assert.deepEqual([a.body.status, a.body.error_code, a.body.num_segments], [
      "delivered",
      null,
      "1",
    ]);
    const b = await call("GET", `${BASE}/Messages/${lostUndelivered.body.sid}.json`);
    assert.deepEqual([b.body.status, b.body.error_code], ["undelivered", 30003]);
    assert.equal(typeof b.body.error_message, "string");
    const [m] = (await call("GET", "/api/messages")).body as unknown as {
      timeline: { status: string; dropped?: boolean; callback: unknown }[];
    }[];
    assert.deepEqual(
      m.timeline.slice(1).map((t) => [t.status, t.dropped, t.callback]),
      [["sent", true, null], ["delivered", true, null]],
      "the timeline says which callbacks were lost",
    );

    // A drop rate of 1 loses every callback; 0 (the default) none.
    await configure({ dropCallbacksTo: [], callbackDropRate: 1 });
    const all = await send({ ...cb, To: TO, Body: "y" });
    await sandbox.idle();
    assert.equal(receiver.received.filter((r) => r.params.MessageSid === all.body.sid).length, 0);
    assert.equal(
      (await call("GET", `${BASE}/Messages/${all.body.sid}.json`)).body.status,
      "delivered",
    );

    const unknown = await call("GET", `${BASE}/Messages/SM${"0".repeat(32)}.json`);
    assert.deepEqual([unknown.status, unknown.body.code, unknown.body.status], [404, 20404, 404]);
    const bad = await call("POST", "/api/config", { json: { dropCallbacksTo: ["12345"] } });
    assert.equal(bad.status, 400);
  });
});

Deno.test("an unreachable StatusCallback is recorded, not fatal", async () => {
  await withSandbox(async ({ send, call, sandbox }) => {
    const dead = Deno.listen({ port: 0, hostname: "127.0.0.1" });
    const port = (dead.addr as Deno.NetAddr).port;
    dead.close();
    const res = await send({
      To: TO,
      From: FROM,
      Body: "x",
      StatusCallback: `http://127.0.0.1:${port}/gone`,
    });
    assert.equal(res.status, 201);
    await sandbox.idle();
    const [m] = (await call("GET", "/api/messages")).body as unknown as {
      status: string;
      timeline: { status: string; callback: { httpStatus: number | null; error: string } | null }[];
    }[];
    assert.equal(m.status, "delivered");
    const withCallback = m.timeline.filter((t) => t.callback);
    assert.equal(withCallback.length, 2);
    assert.ok(withCallback.every((t) => t.callback?.httpStatus === null && t.callback.error));
    assert.equal((await send({ To: TO, From: FROM, Body: "still up" })).status, 201);
  });
});

Deno.test("control API, inbox page and bad input never crash the server", async () => {
  await withSandbox(async ({ call, send, sandbox }) => {
    const config = await call("GET", "/api/config");
    assert.equal(config.status, 200);
    assert.equal(config.body.callbackOrder, "ordered");
    assert.equal(config.body.callbackDelayMs, 5);
    const updated = await call("POST", "/api/config", { json: { rate429: 0.5 } });
    assert.equal(updated.body.rate429, 0.5);
    assert.equal(updated.body.callbackDelayMs, 5);
    const reset = await call("POST", "/api/config", { json: { reset: true } });
    assert.equal(reset.body.rate429, 0);
    assert.equal(reset.body.callbackDelayMs, 25);
    assert.match(String(reset.body.inboundWebhookUrl), /twilio-webhook$/);
    assert.equal((await call("POST", "/api/config", { json: "{" })).status, 400);
    assert.equal((await call("POST", "/api/config", { json: { rate429: 2 } })).status, 400);
    assert.equal((await call("POST", "/api/config", { json: { nope: 1 } })).status, 400);
    assert.equal((await call("POST", "/api/config", { json: [1] })).status, 400);

    assertTwilioError(await call("GET", "/nowhere"), 404, 20404);
    assertTwilioError(await call("GET", "/api/nowhere"), 404, 20404);
    assertTwilioError(await call("PUT", "/api/messages"), 405, 20004);
    assertTwilioError(await call("GET", "/2010-04-01/Accounts"), 404, 20404);

    // Malformed form encoding still parses (as Twilio's form parser would) and fails validation.
    const malformed = await fetch(`${sandbox.url}${BASE}/Messages.json`, {
      method: "POST",
      headers: { authorization: BASIC, "content-type": "application/x-www-form-urlencoded" },
      body: "To=%E0%A4%A&From=%%%&Body=%ZZ",
    });
    assert.equal(malformed.status, 400);
    await malformed.body?.cancel();
    const huge = await fetch(`${sandbox.url}${BASE}/Messages.json`, {
      method: "POST",
      headers: { authorization: BASIC },
      body: "x".repeat(2 * 1024 * 1024),
    });
    assert.equal(huge.status, 413);
    await huge.body?.cancel();

    assert.equal(
      (await send({ To: TO, From: FROM, Body: "<script>alert(1)</script>" })).status,
      201,
    );
    const page = await fetch(`${sandbox.url}/`);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const text = await page.text();
    // The page renders messages itself, as text; the HTML never carries a message body.
    assert.ok(!text.includes("alert(1)"));
    const view = (await call("GET", "/api/conversations")).body as unknown as {
      conversations: { items: { body?: string }[] }[];
    };
    assert.equal(view.conversations[0].items[0].body, "<script>alert(1)</script>");

    const del = await fetch(`${sandbox.url}/api/messages`, { method: "DELETE" });
    assert.equal(del.status, 204);
    await del.body?.cancel();
    assert.deepEqual((await call("GET", "/api/messages")).body, []);
    await sandbox.idle();
  });
});

Deno.test("twilio-node talks to the sandbox through a RequestClient that rewrites the origin", async () => {
  await withSandbox(async ({ sandbox, receiver }) => {
    const client = createSandboxTwilioClient(sandbox.url, ACCOUNT_SID, AUTH_TOKEN);
    const created = await client.messages.create({
      to: TO,
      from: FROM,
      body: "Hello from twilio-node",
      statusCallback: `${receiver.url}/status`,
      validityPeriod: 600,
    });
    assert.match(created.sid, SID);
    assert.equal(created.status, "queued");
    assert.equal(created.numSegments, "1");
    assert.ok(created.dateCreated instanceof Date);
    await client.messages.create({ to: "+16465009999", from: FROM, body: "second" });
    await client.messages.create({ to: TO, messagingServiceSid: SERVICE_SID, body: "third" });
    await sandbox.idle();

    const fetched = await client.messages(created.sid).fetch();
    assert.equal(fetched.status, "delivered");
    assert.ok(fetched.dateSent instanceof Date);

    const toTo = await client.messages.list({ to: TO });
    assert.equal(toTo.length, 2);
    // Auto-pagination follows next_page_uri through the same rewriting client.
    const paged = await client.messages.list({ pageSize: 1 });
    assert.equal(paged.length, 3);
    const sentToday = await client.messages.list({ dateSentAfter: new Date(Date.now() - 60_000) });
    assert.equal(sentToday.length, 3);

    await assert.rejects(
      client.messages.create({ to: "+15005550001", from: FROM, body: "x" }),
      (error: { status: number; code: number; moreInfo: string }) => {
        assert.equal(error.status, 400);
        assert.equal(error.code, 21211);
        assert.equal(error.moreInfo, "https://www.twilio.com/docs/errors/21211");
        return true;
      },
    );
    const wrong = createSandboxTwilioClient(sandbox.url, ACCOUNT_SID, "0".repeat(32));
    await assert.rejects(wrong.messages.list({}), (error: { status: number; code: number }) => {
      assert.equal(error.status, 401);
      assert.equal(error.code, 20003);
      return true;
    });
  });
});

Deno.test("DELETE /api/messages stops callbacks of cleared messages", async () => {
  await withSandbox(async ({ send, call, configure, sandbox, receiver }) => {
    await configure({ callbackDelayMs: 40 });
    const res = await send({ To: TO, From: FROM, Body: "x", StatusCallback: `${receiver.url}/s` });
    assert.equal(res.status, 201);
    const del = await fetch(`${sandbox.url}/api/messages`, { method: "DELETE" });
    await del.body?.cancel();
    await sandbox.idle();
    assert.equal(receiver.received.length, 0);
    assert.deepEqual((await call("GET", "/api/attempts")).body, []);
  });
});

Deno.test("close() cancels held requests and pending callbacks at once", async () => {
  const receiver = startReceiver();
  const sandbox = await startSandbox({
    port: 0,
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    phoneNumbers: [FROM],
    config: { callbackDelayMs: 60_000 },
  });
  try {
    const send = (body: string) =>
      fetch(`${sandbox.url}${BASE}/Messages.json`, {
        method: "POST",
        headers: { authorization: BASIC },
        body: new URLSearchParams({ To: TO, From: FROM, Body: body, StatusCallback: receiver.url }),
      });
    const created = await send("callbacks pending for a minute");
    assert.equal(created.status, 201);
    await created.body?.cancel();
    const config = await fetch(`${sandbox.url}/api/config`, {
      method: "POST",
      body: JSON.stringify({ rateTimeout: 1, timeoutHangMs: 60_000 }),
    });
    await config.body?.cancel();
    // Settle into a value right away: the rejection comes while close() is awaited.
    const held = send("held").then((res) => res.text()).then(() => null, (error) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await sandbox.close();
    assert.ok(await held instanceof Error, "the held request gets no answer");
    assert.ok(performance.now() - started < 2_000);
    assert.equal(receiver.received.length, 0);
  } finally {
    await sandbox.close();
    await receiver.close();
  }
});

Deno.test("failNext: the next create to a number fails once, with a REST or a delivery error", async () => {
  await withSandbox(async ({ send, call, configure, sandbox, receiver }) => {
    const rest = "+16465110011";
    const delivery = "+16465110012";
    const never = "+16465110013";
    const cb = `${receiver.url}/status`;
    await configure({ failNext: { [rest]: 21610, [delivery]: 30003, [never]: 30034 } });
    assert.deepEqual((await call("GET", "/api/config")).body.failNext, {
      [rest]: 21610,
      [delivery]: 30003,
      [never]: 30034,
    });

    // A REST code refuses the create itself; the next one to the number goes through.
    assertTwilioError(await send({ To: rest, From: FROM, Body: "one" }), 400, 21610);
    assert.equal((await send({ To: rest, From: FROM, Body: "two" })).status, 201);
    const attempts = (await call("GET", "/api/attempts")).body as unknown as {
      to: string;
      outcome: string;
      code: number | null;
    }[];
    assert.deepEqual(
      attempts.filter((a) => a.to === rest).map((a) => [a.outcome, a.code]),
      [["rejected", 21610], ["created", null]],
    );

    // A create that fails validation for another reason does not use the armed failure up.
    assertTwilioError(await send({ To: delivery, From: "+15005550007", Body: "x" }), 400, 21606);
    // A delivery code: created, sent, then undelivered with ErrorCode; only once.
    const a = await send({ To: delivery, From: FROM, Body: "a", StatusCallback: cb });
    const b = await send({ To: delivery, From: FROM, Body: "b", StatusCallback: cb });
    const c = await send({ To: never, From: FROM, Body: "c", StatusCallback: cb });
    assert.equal(a.status, 201);
    await sandbox.idle();
    const statuses = (sid: unknown) =>
      receiver.received.filter((r) => r.params.MessageSid === sid).map((
        r,
      ) => [r.params.MessageStatus, r.params.ErrorCode ?? null]);
    assert.deepEqual(statuses(a.body.sid), [["sent", null], ["undelivered", "30003"]]);
    assert.deepEqual(statuses(b.body.sid), [["sent", null], ["delivered", null]]);
    assert.deepEqual(statuses(c.body.sid), [["failed", "30034"]]);
    const fetched = await call("GET", `${BASE}/Messages/${a.body.sid}.json`);
    assert.equal(fetched.body.status, "undelivered");
    assert.equal(fetched.body.error_code, 30003);
    assert.deepEqual((await call("GET", "/api/config")).body.failNext, {});

    // Validation: E.164 keys and known codes only; reset clears it.
    assert.equal(
      (await call("POST", "/api/config", { json: { failNext: { x: 21610 } } })).status,
      400,
    );
    assert.equal(
      (await call("POST", "/api/config", { json: { failNext: { [rest]: 12345 } } })).status,
      400,
    );
    await configure({ failNext: { [rest]: 30007 } });
    assert.deepEqual(
      (await call("POST", "/api/config", { json: { reset: true } })).body.failNext,
      {},
    );
  });
});

Deno.test("failNext: a configured `failures` entry still applies after the one-shot is used", async () => {
  await withSandbox(async ({ send, configure, sandbox, receiver }) => {
    const to = "+16465110021";
    await configure({
      failures: { [to]: { status: "failed", errorCode: 30008 } },
      failNext: { [to]: 30007 },
    });
    const cb = `${receiver.url}/status`;
    const first = await send({ To: to, From: FROM, Body: "1", StatusCallback: cb });
    const second = await send({ To: to, From: FROM, Body: "2", StatusCallback: cb });
    await sandbox.idle();
    const last = (sid: unknown) =>
      receiver.received.filter((r) => r.params.MessageSid === sid).at(-1)?.params;
    assert.equal(last(first.body.sid)?.MessageStatus, "undelivered");
    assert.equal(last(first.body.sid)?.ErrorCode, "30007");
    assert.equal(last(second.body.sid)?.MessageStatus, "failed");
    assert.equal(last(second.body.sid)?.ErrorCode, "30008");
  });
});

Deno.test("/api/conversations groups by handset with timelines, replies, refusals and state", async () => {
  await withSandbox(async ({ send, call, configure, sandbox, receiver }) => {
    const phone = "+16465335555";
    const other = "+16465336666";
    const cb = `${receiver.url}/status`;
    receiver.answer = {
      status: 200,
      contentType: "text/xml",
      body: '<?xml version="1.0"?><Response><Message>Acme: you&apos;re out &amp; won&#39;t ' +
        "hear from us. Reply START</Message></Response>",
    };
    const body = "Hi 👋 how did we do?";
    const sent = await send({ To: phone, From: FROM, Body: body, StatusCallback: cb });
    await send({ To: other, From: FROM, Body: "other" });
    await sandbox.idle();
    await call("POST", "/api/inbound", { json: { from: phone, to: FROM, body: "STOP" } });
    assertTwilioError(await send({ To: phone, From: FROM, Body: "again" }), 400, 21610);
    await configure({ failNext: { [phone]: 30003, "+16465990000": 21211 } });

    type View = {
      accountSid: string;
      phoneNumbers: string[];
      failNextCodes: { code: number; kind: string }[];
      conversations: {
        number: string;
        optedOutFrom: string[];
        failNext: { code: number; kind: string } | null;
        lastAt: string | null;
        items: Record<string, unknown>[];
      }[];
    };
    const view = (await call("GET", "/api/conversations")).body as unknown as View;
    assert.equal(view.accountSid, ACCOUNT_SID);
    assert.deepEqual(view.phoneNumbers, [FROM, OTHER_FROM]);
    assert.ok(view.failNextCodes.some((c) => c.code === 21610 && c.kind === "rejected"));
    // Most recent activity first; a number with only an armed failure comes last.
    assert.deepEqual(view.conversations.map((c) => c.number), [phone, other, "+16465990000"]);
    const [conv, second, armedOnly] = view.conversations;
    assert.deepEqual(conv.optedOutFrom, [FROM]);
    assert.equal(conv.failNext?.code, 30003);
    assert.equal(conv.failNext?.kind, "undelivered");
    assert.equal(armedOnly.items.length, 0);
    assert.equal(armedOnly.lastAt, null);
    assert.equal(second.items.length, 1);

    assert.deepEqual(conv.items.map((i) => i.kind), ["outbound", "inbound", "refused"]);
    const [out, reply, refused] = conv.items;
    assert.equal(out.sid, sent.body.sid);
    assert.equal(out.body, body);
    assert.equal(out.encoding, "UCS-2");
    assert.equal(out.segments, 1);
    assert.equal(out.status, "delivered");
    const timeline = out.timeline as { status: string; callback: { httpStatus: number } | null }[];
    assert.deepEqual(timeline.map((t) => t.status), ["queued", "sent", "delivered"]);
    assert.equal(timeline[0].callback, null);
    assert.equal(timeline[2].callback?.httpStatus, 200);
    assert.equal(reply.body, "STOP");
    assert.equal(reply.keyword, "STOP");
    assert.deepEqual(reply.replies, ["Acme: you're out & won't hear from us. Reply START"]);
    assert.equal((reply.webhook as { httpStatus: number }).httpStatus, 200);
    assert.equal(refused.code, 21610);
    assert.equal(refused.httpStatus, 400);
    assert.equal(refused.description, "Attempt to send to unsubscribed recipient");

    // The inbound resource shows the TwiML replies too.
    const inbound = (await call("GET", "/api/inbound")).body as unknown as { replies: string[] }[];
    assert.deepEqual(inbound[0].replies, ["Acme: you're out & won't hear from us. Reply START"]);
  });
});

Deno.test("the inbox page is self-contained: inline script and style under a strict CSP", async () => {
  await withSandbox(async ({ sandbox }) => {
    const res = await fetch(`${sandbox.url}/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    const html = await res.text();
    // Nothing is loaded from anywhere: no src= or stylesheet links, no external URLs in code.
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+stylesheet/i);
    const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? "";
    assert.ok(script.includes("/api/conversations"));
    assert.doesNotMatch(script, /https?:\/\//);
    const hash = btoa(String.fromCharCode(
      ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script))),
    ));
    assert.ok(csp.includes(`'sha256-${hash}'`), "the CSP allows exactly the inline script");
    // Keyboard and labels: every input and select has a label; every control is a <button>.
    for (const id of html.matchAll(/<(?:input|select|textarea)[^>]*\sid="([^"]+)"/g)) {
      assert.ok(html.includes(`for="${id[1]}"`), `label for #${id[1]}`);
    }
    assert.doesNotMatch(html, /onclick=|<a[^>]+href="#"[^>]*>(?!Skip)/);
  });
});

Deno.test("/api/conversations keeps the page light: the most recent 200 numbers and items", async () => {
  await withSandbox(async ({ send, call, sandbox }) => {
    const busy = "+16465440000";
    for (let i = 0; i < 203; i++) {
      assert.equal((await send({ To: busy, From: FROM, Body: `${i}` })).status, 201);
    }
    for (let i = 1; i <= 200; i++) {
      const to = `+1646544${String(i).padStart(4, "0")}`;
      assert.equal((await send({ To: to, From: FROM, Body: "hi" })).status, 201);
    }
    await sandbox.idle();
    const view = (await call("GET", "/api/conversations")).body as unknown as {
      conversations: { number: string; items: { body: string }[]; omittedItems: number }[];
      omittedConversations: number;
    };
    assert.equal(view.conversations.length, 200);
    assert.equal(view.omittedConversations, 1);
    // The busy number was texted first, so it is the oldest conversation and left out...
    assert.ok(!view.conversations.some((c) => c.number === busy));
    // ...unless a failure is armed for it, as for a number not texted yet (sorted last).
    const armed = "+16465449999";
    await call("POST", "/api/config", { json: { failNext: { [busy]: 30003, [armed]: 30003 } } });
    const withArmed = (await call("GET", "/api/conversations")).body as unknown as typeof view;
    assert.deepEqual(withArmed.conversations.slice(200).map((c) => c.number).sort(), [busy, armed]);
    assert.equal(withArmed.omittedConversations, 0);
    await call("POST", "/api/config", { json: { failNext: {} } });
    await call("DELETE", "/api/messages");
    for (let i = 0; i < 203; i++) await send({ To: busy, From: FROM, Body: `${i}` });
    const again = (await call("GET", "/api/conversations")).body as unknown as typeof view;
    assert.equal(again.conversations[0].omittedItems, 3);
    assert.equal(again.conversations[0].items.length, 200);
    assert.equal(again.conversations[0].items[0].body, "3");
    assert.equal(again.conversations[0].items.at(-1)?.body, "202");
    await sandbox.idle();
  });
});
