import assert from "node:assert/strict";
import { startSandbox } from "@local/sandbox/server.ts";
import { validateTwilioSignature } from "@shared/twilio/signature.ts";
import { parseTwilioWebhook } from "../../supabase/functions/twilio-webhook/params.ts";
import {
  createFetchHttpClient,
  createTwilioClient,
  DEFAULT_CONNECTION_OVERRIDES,
  DEFAULT_VALIDITY_PERIOD,
  isSmsEnabled,
  loadTwilioConfig,
  twilioClientFromEnv,
  type TwilioConfig,
  TwilioSendError,
} from "@shared/twilio/client.ts";
import { listMessages } from "@shared/twilio/messages.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const AUTH_TOKEN = "fedcba9876543210".repeat(2);
const SERVICE_SID = "MG" + "00112233445566778899aabbccddeeff";
const FROM = "+15005550006";
const TO = "+14155552671";

const FULL_ENV = {
  TWILIO_ACCOUNT_SID: ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: AUTH_TOKEN,
  TWILIO_PHONE_NUMBER: FROM,
};

Deno.test("twilio: config is null without credentials or a sender", () => {
  assert.equal(loadTwilioConfig({}), null);
  assert.equal(loadTwilioConfig({ ...FULL_ENV, TWILIO_ACCOUNT_SID: "" }), null);
  assert.equal(loadTwilioConfig({ ...FULL_ENV, TWILIO_AUTH_TOKEN: "  " }), null);
  assert.equal(loadTwilioConfig({ ...FULL_ENV, TWILIO_PHONE_NUMBER: undefined }), null);
  assert.equal(isSmsEnabled({}), false);
  assert.equal(isSmsEnabled(FULL_ENV), true);
  assert.deepEqual(loadTwilioConfig(FULL_ENV), {
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    from: FROM,
    messagingServiceSid: null,
    apiBaseUrl: null,
    statusCallbackUrl: null,
    validityPeriod: DEFAULT_VALIDITY_PERIOD,
    smartEncoded: false,
  });
  const service = loadTwilioConfig({
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_MESSAGING_SERVICE_SID: SERVICE_SID,
    TWILIO_API_BASE_URL: "http://127.0.0.1:54324/",
    TWILIO_WEBHOOK_URL: "https://example.com/functions/v1/twilio-webhook",
    TWILIO_VALIDITY_PERIOD: "600",
  });
  assert.equal(service?.messagingServiceSid, SERVICE_SID);
  assert.equal(service?.apiBaseUrl, "http://127.0.0.1:54324");
  assert.equal(service?.validityPeriod, 600);
  assert.equal(
    loadTwilioConfig({ ...FULL_ENV, TWILIO_VALIDITY_PERIOD: "99999" })?.validityPeriod,
    DEFAULT_VALIDITY_PERIOD,
  );
});

Deno.test("twilio: twilioClientFromEnv is null when unconfigured; isSmsEnabled() reads Deno.env", () => {
  assert.equal(twilioClientFromEnv({}), null);
  assert.equal(twilioClientFromEnv({ ...FULL_ENV, TWILIO_PHONE_NUMBER: "" }), null);
  assert.equal(twilioClientFromEnv(FULL_ENV)?.config.from, FROM);
  const keys = Object.keys(FULL_ENV);
  const saved = Object.fromEntries(keys.map((k) => [k, Deno.env.get(k)]));
  try {
    for (const k of keys) Deno.env.delete(k);
    assert.equal(isSmsEnabled(), false);
    for (const [k, v] of Object.entries(FULL_ENV)) Deno.env.set(k, v);
    assert.equal(isSmsEnabled(), true);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  }
});

function config(overrides: Partial<TwilioConfig> = {}): TwilioConfig {
  return { ...loadTwilioConfig(FULL_ENV)!, ...overrides };
}

Deno.test("twilio: sendMessage sets StatusCallback and ValidityPeriod (fake fetch)", async () => {
  const requests: Request[] = [];
  const fakeFetch: typeof fetch = (input, init) => {
    const request = new Request(input, init);
    requests.push(request);
    return Promise.resolve(
      new Response(
        JSON.stringify({
          sid: "SM" + "1".repeat(32),
          status: "queued",
          num_segments: "2",
          to: TO,
          from: FROM,
        }),
        { status: 201, headers: { "content-type": "application/json" } },
      ),
    );
  };
  const sender = createTwilioClient(
    config({
      apiBaseUrl: "http://sandbox.test:9999",
      statusCallbackUrl: "https://example.com/functions/v1/twilio-webhook",
      validityPeriod: 900,
    }),
    { fetch: fakeFetch },
  );
  const result = await sender.sendMessage({ to: TO, body: "Hello ✓ there" });
  assert.deepEqual(result, {
    sid: "SM" + "1".repeat(32),
    status: "queued",
    segments: 2,
    encoding: "UCS-2",
  });
  assert.equal(requests.length, 1);
  const request = requests[0];
  assert.equal(request.method, "POST");
  assert.equal(
    request.url,
    `http://sandbox.test:9999/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`,
  );
  assert.equal(
    request.headers.get("authorization"),
    "Basic " + btoa(`${ACCOUNT_SID}:${AUTH_TOKEN}`),
  );
  const form = new URLSearchParams(await request.text());
  assert.equal(form.get("To"), TO);
  assert.equal(form.get("From"), FROM);
  assert.equal(form.get("Body"), "Hello ✓ there");
  assert.equal(form.get("StatusCallback"), "https://example.com/functions/v1/twilio-webhook");
  assert.equal(form.get("ValidityPeriod"), "900");

  // Per-message overrides, and a messaging service instead of a number.
  const viaService = createTwilioClient(config({ messagingServiceSid: SERVICE_SID }), {
    fetch: fakeFetch,
  });
  await viaService.sendMessage({
    to: TO,
    body: "x",
    statusCallback: "https://cb.test/x",
    validityPeriod: 120.7,
  });
  const second = new URLSearchParams(await requests[1].text());
  assert.equal(second.get("MessagingServiceSid"), SERVICE_SID);
  assert.equal(second.get("From"), null);
  assert.equal(second.get("StatusCallback"), "https://cb.test/x");
  assert.equal(second.get("ValidityPeriod"), "120");
  assert.ok(requests[1].url.startsWith("https://api.twilio.com/"), "no base URL: Twilio itself");
  // SmartEncoded is always said, so a Messaging Service's own setting cannot change the count.
  assert.equal(form.get("SmartEncoded"), "false");
  assert.equal(second.get("SmartEncoded"), "false");
});

Deno.test("twilio: Smart Encoding is on by default through a Messaging Service, and counted", async () => {
  const smart = (env: Record<string, string>) => loadTwilioConfig({ ...FULL_ENV, ...env })!;
  const noService = { TWILIO_MESSAGING_SERVICE_SID: "" };
  assert.equal(smart(noService).smartEncoded, false);
  assert.equal(smart({ TWILIO_MESSAGING_SERVICE_SID: SERVICE_SID }).smartEncoded, true);
  assert.equal(
    smart({ TWILIO_MESSAGING_SERVICE_SID: SERVICE_SID, TWILIO_SMART_ENCODED: "false" })
      .smartEncoded,
    false,
  );
  assert.equal(smart({ ...noService, TWILIO_SMART_ENCODED: "TRUE" }).smartEncoded, true);

  let form: URLSearchParams | null = null;
  const fakeFetch: typeof fetch = async (input, init) => {
    form = new URLSearchParams(await new Request(input, init).text());
    // No num_segments: the client falls back to its own count.
    return new Response(JSON.stringify({ sid: "SM" + "2".repeat(32), status: "queued" }), {
      status: 201,
    });
  };
  // Curly quotes make it UCS-2 (two segments of 67); Smart Encoding makes them GSM-7 (one).
  const body = "\u201cThanks\u201d \u2014 " + "x".repeat(100);
  const on = await createTwilioClient(smart({ ...noService, TWILIO_SMART_ENCODED: "true" }), {
    fetch: fakeFetch,
  }).sendMessage({ to: TO, body });
  assert.equal(form!.get("SmartEncoded"), "true");
  assert.equal(form!.get("Body"), body, "the text is sent as written; Twilio replaces");
  assert.deepEqual([on.segments, on.encoding], [1, "GSM-7"]);
  const off = await createTwilioClient(smart(noService), { fetch: fakeFetch })
    .sendMessage({ to: TO, body });
  assert.deepEqual([off.segments, off.encoding], [2, "UCS-2"]);
});

Deno.test("twilio: failures become TwilioSendError with a classification (fake fetch)", async () => {
  const answer = (status: number, body: unknown): typeof fetch => () =>
    Promise.resolve(new Response(JSON.stringify(body), { status }));
  const send = (f: typeof fetch, timeoutMs?: number) =>
    createTwilioClient(config(), { fetch: f, timeoutMs }).sendMessage({ to: TO, body: "hi" });

  await assert.rejects(
    send(
      answer(400, { code: 21211, message: "Invalid 'To'", more_info: "https://x", status: 400 }),
    ),
    (e: unknown) => {
      assert.ok(e instanceof TwilioSendError);
      assert.equal(e.code, "invalid_phone");
      assert.equal(e.status, 422);
      assert.equal(e.classification.effect, "invalid_number");
      assert.equal(e.classification.httpStatus, 400);
      assert.equal(e.moreInfo, "https://x");
      return true;
    },
  );
  await assert.rejects(send(answer(429, { code: 20429, status: 429 })), (e: TwilioSendError) => {
    assert.equal(e.classification.retryable, true);
    assert.equal(e.classification.deferReason, "rate_limited");
    return true;
  });
  await assert.rejects(send(answer(503, "not json")), (e: TwilioSendError) => {
    assert.equal(e.classification.effect, "provider_unavailable");
    assert.equal(e.classification.outcomeUncertain, false);
    return true;
  });
  const refused: typeof fetch = () => Promise.reject(new TypeError("connection refused"));
  await assert.rejects(send(refused), (e: TwilioSendError) => {
    assert.equal(e.classification.retryable, true);
    assert.equal(e.classification.outcomeUncertain, true);
    return true;
  });
  const hang: typeof fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
    });
  await assert.rejects(send(hang, 20), (e: TwilioSendError) => {
    assert.equal(e.classification.effect, "provider_unavailable");
    assert.match(e.classification.description, /timed out/);
    return true;
  });
  await assert.rejects(
    createTwilioClient(config()).sendMessage({ to: "415", body: "x" }),
    (e: { code?: string }) => e.code === "invalid_phone",
  );
});

Deno.test("twilio: listing messages pages with fetch as twilio-node does, and stops at since", async () => {
  const seen: { url: string; auth: string | null }[] = [];
  const page = (n: number, next: boolean) => ({
    messages: [0, 1].map((i) => ({
      sid: `SM${String(n * 2 + i).padStart(32, "0")}`,
      to: TO,
      from: FROM,
      body: `m${n * 2 + i}`,
      direction: "outbound-api",
      messaging_service_sid: null,
      // Newest first: page 0 holds the newest two.
      date_created: new Date(Date.UTC(2026, 11, 4, 12, 0, 0) - (n * 2 + i) * 60_000)
        .toUTCString().replace("GMT", "+0000"),
      status: "delivered",
      num_segments: "1",
    })),
    next_page_uri: next
      ? `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json?To=x&PageSize=50&Page=${n + 1}`
      : null,
  });
  const client = createTwilioClient({ ...loadTwilioConfig(FULL_ENV)!, apiBaseUrl: "http://sb" }, {
    fetch: (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      seen.push({ url, auth: new Headers(init?.headers).get("authorization") });
      const n = Number(new URL(url).searchParams.get("Page") ?? 0);
      if (n === 9) return Promise.resolve(new Response("{}", { status: 500 }));
      return Promise.resolve(new Response(JSON.stringify(page(n, n < 4)), { status: 200 }));
    },
  });
  const all = await listMessages(client, {
    to: TO,
    from: FROM,
    since: new Date(Date.UTC(2026, 11, 4, 11, 57, 30)),
    maxPages: 10,
  });
  // Pages 0 and 1 (m0..m3); m3, the oldest of page 1, is older than `since`: no page 2.
  assert.deepEqual(all.map((m) => m.body), ["m0", "m1", "m2", "m3"]);
  assert.deepEqual(all[0], {
    sid: `SM${"0".repeat(32)}`,
    to: TO,
    from: FROM,
    body: "m0",
    direction: "outbound-api",
    messagingServiceSid: null,
    dateCreated: new Date(Date.UTC(2026, 11, 4, 12, 0, 0)),
    status: "delivered",
    numSegments: "1",
  });
  assert.deepEqual(seen.map((s) => s.url), [
    `http://sb/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json?To=%2B14155552671&From=%2B15005550006&PageSize=50`,
    `http://sb/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json?To=x&PageSize=50&Page=1`,
  ]);
  assert.ok(seen.every((s) => s.auth === "Basic " + btoa(`${ACCOUNT_SID}:${AUTH_TOKEN}`)));
  // At most maxPages pages; a failed page is an error, never a short list.
  seen.length = 0;
  const old = new Date(0);
  assert.equal((await listMessages(client, { to: TO, since: old, maxPages: 3 })).length, 6);
  assert.equal(seen.length, 3);
  assert.equal((await listMessages(client, { to: TO, since: old, maxPages: 20 })).length, 10);
  const failing = createTwilioClient(loadTwilioConfig(FULL_ENV)!, {
    fetch: () => Promise.resolve(new Response("{}", { status: 500 })),
  });
  await assert.rejects(listMessages(failing, { to: TO, since: old, maxPages: 1 }), /500/);
});

Deno.test("twilio: fetch http client keeps query params and rewrites the origin", async () => {
  let seen = "";
  const client = createFetchHttpClient({
    baseUrl: "http://127.0.0.1:1/prefix/",
    fetch: (input) => {
      seen = String(input instanceof Request ? input.url : input);
      return Promise.resolve(new Response("{}", { status: 200 }));
    },
  });
  const res = await client.request({
    method: "get",
    uri: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=5",
    params: { To: "+1 415" },
  });
  assert.equal(res.statusCode, 200);
  assert.equal(
    seen,
    "http://127.0.0.1:1/prefix/2010-04-01/Accounts/AC1/Messages.json?PageSize=5&To=%2B1+415",
  );
});

// --- against the local Twilio sandbox --------------------------------------------------------

Deno.test("twilio: listing agrees with twilio-node's own paging, on the sandbox", async () => {
  const sandbox = await startSandbox({
    port: 0,
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    phoneNumbers: [FROM],
    config: { callbackDelayMs: 1 },
  });
  try {
    const client = createTwilioClient({ ...loadTwilioConfig(FULL_ENV)!, apiBaseUrl: sandbox.url });
    for (let i = 0; i < 55; i++) await client.sendMessage({ to: TO, body: `n${i}` });
    await client.sendMessage({ to: "+12125550101", body: "elsewhere" });
    await sandbox.idle();
    const ours = await listMessages(client, {
      to: TO,
      from: FROM,
      since: new Date(0),
      maxPages: 5,
    });

    const twilio = (await import("twilio")).default;
    const rest = twilio(ACCOUNT_SID, AUTH_TOKEN, {
      httpClient: createFetchHttpClient({ baseUrl: sandbox.url }) as never,
      autoRetry: false,
    });
    const theirs: Record<string, unknown>[] = [];
    type Paged = { instances: unknown[]; nextPage(): Promise<Paged | undefined> };
    let page = await rest.messages.page({ to: TO, from: FROM, pageSize: 50 }) as unknown as
      | Paged
      | undefined;
    while (page) {
      theirs.push(...page.instances as Record<string, unknown>[]);
      page = await page.nextPage();
    }
    const fields = [
      "sid",
      "to",
      "from",
      "body",
      "direction",
      "messagingServiceSid",
      "dateCreated",
      "status",
      "numSegments",
    ] as const;
    const pick = (m: Record<string, unknown>) => fields.map((f) => m[f]);
    assert.equal(ours.length, 55);
    assert.deepEqual(
      ours.map((m) => pick(m as unknown as Record<string, unknown>)),
      theirs.map(pick),
    );
  } finally {
    await sandbox.close();
  }
});

Deno.test("twilio: sends to the sandbox and maps every magic number", async () => {
  const callbacks: { signature: string | null; params: Record<string, string> }[] = [];
  const receiver = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const form = new URLSearchParams(await req.text());
    callbacks.push({
      signature: req.headers.get("x-twilio-signature"),
      params: Object.fromEntries(form),
    });
    return new Response("<Response/>", { headers: { "content-type": "text/xml" } });
  });
  const callbackUrl = `http://127.0.0.1:${receiver.addr.port}/functions/v1/twilio-webhook`;
  const sandbox = await startSandbox({
    port: 0,
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    phoneNumbers: [FROM],
    messagingServiceSid: SERVICE_SID,
    inboundWebhookUrl: callbackUrl,
    config: { callbackDelayMs: 1 },
  });
  try {
    const env = {
      ...FULL_ENV,
      TWILIO_API_BASE_URL: sandbox.url,
      TWILIO_WEBHOOK_URL: callbackUrl,
      TWILIO_VALIDITY_PERIOD: "1200",
    };
    const sender = createTwilioClient(loadTwilioConfig(env)!);

    const sent = await sender.sendMessage({ to: TO, body: "Your review link: https://x.test/r" });
    assert.match(sent.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(sent.status, "queued");
    assert.equal(sent.segments, 1);
    assert.equal(sent.encoding, "GSM-7");

    const long = await sender.sendMessage({ to: TO, body: "é😀".repeat(40) });
    assert.equal(long.segments, 2);
    assert.equal(long.encoding, "UCS-2");

    // The sandbox counts as Twilio does with SmartEncoded (twilio's reference calculator).
    const curly = "\u201cThanks\u201d \u2014 " + "x".repeat(100);
    const plain = await sender.sendMessage({ to: TO, body: curly });
    const smart = await createTwilioClient({ ...loadTwilioConfig(env)!, smartEncoded: true })
      .sendMessage({ to: TO, body: curly });
    assert.deepEqual([plain.segments, smart.segments], [2, 1], "num_segments from the sandbox");

    const recorded = await (await fetch(`${sandbox.url}/api/messages`)).json();
    const first = recorded.find((m: { sid: string }) => m.sid === sent.sid);
    // With Twilio's connection overrides, which it leaves out of the URL it signs (below).
    assert.equal(first.status_callback, `${callbackUrl}#${DEFAULT_CONNECTION_OVERRIDES}`);
    assert.equal(first.validity_period, 1200);
    assert.equal(first.to, TO);
    assert.equal(first.from, FROM);

    const magic: [string, number, string, boolean, string][] = [
      ["+15005550001", 21211, "invalid_number", false, "invalid_phone"],
      ["+15005550002", 21612, "unroutable", false, "provider_rejected"],
      ["+15005550003", 21408, "account_misconfigured", false, "provider_rejected"],
      ["+15005550004", 21610, "opted_out", false, "opted_out"],
      ["+15005550009", 21614, "invalid_number", false, "invalid_phone"],
    ];
    for (const [to, code, effect, retryable, errorCode] of magic) {
      await assert.rejects(sender.sendMessage({ to, body: "hi" }), (e: unknown) => {
        assert.ok(e instanceof TwilioSendError, to);
        assert.equal(e.classification.code, code, to);
        assert.equal(e.classification.effect, effect, to);
        assert.equal(e.classification.retryable, retryable, to);
        assert.equal(e.code, errorCode, to);
        return true;
      });
    }
    assert.equal(
      await sender.sendMessage({ to: "+15005550006", body: "hi" }).then((r) => r.status),
      "queued",
    );

    // A messaging service answers "accepted".
    const service = createTwilioClient(
      loadTwilioConfig({
        ...env,
        TWILIO_PHONE_NUMBER: "",
        TWILIO_MESSAGING_SERVICE_SID: SERVICE_SID,
      })!,
    );
    assert.equal((await service.sendMessage({ to: TO, body: "hi" })).status, "accepted");

    // A sender the account does not own is an account problem.
    const foreign = createTwilioClient(
      loadTwilioConfig({ ...env, TWILIO_PHONE_NUMBER: "+15005550007" })!,
    );
    await assert.rejects(foreign.sendMessage({ to: TO, body: "hi" }), (e: TwilioSendError) => {
      assert.equal(e.classification.code, 21606);
      assert.equal(e.classification.alert, true);
      return true;
    });

    // Bad credentials.
    const wrong = createTwilioClient(
      loadTwilioConfig({ ...env, TWILIO_AUTH_TOKEN: "0".repeat(32) })!,
    );
    await assert.rejects(wrong.sendMessage({ to: TO, body: "hi" }), (e: TwilioSendError) => {
      assert.equal(e.classification.code, 20003);
      return true;
    });

    // Faults: 429 and 5xx are retryable.
    const setConfig = (patch: object) =>
      fetch(`${sandbox.url}/api/config`, { method: "POST", body: JSON.stringify(patch) }).then((
        r,
      ) => r.body?.cancel());
    await setConfig({ rate429: 1 });
    await assert.rejects(sender.sendMessage({ to: TO, body: "hi" }), (e: TwilioSendError) => {
      assert.equal(e.classification.effect, "rate_limited");
      assert.equal(e.classification.retryable, true);
      return true;
    });
    await setConfig({ rate429: 0, rate5xx: 1 });
    await assert.rejects(sender.sendMessage({ to: TO, body: "hi" }), (e: TwilioSendError) => {
      assert.equal(e.classification.effect, "provider_unavailable");
      assert.equal(e.classification.retryable, true);
      assert.ok((e.classification.httpStatus ?? 0) >= 500);
      return true;
    });
    // A request Twilio never answers times out, and may have created the message.
    await setConfig({ rate5xx: 0, rateTimeout: 1, timeoutHangMs: 2000 });
    const impatient = createTwilioClient(loadTwilioConfig(env)!, { timeoutMs: 100 });
    await assert.rejects(impatient.sendMessage({ to: TO, body: "hi" }), (e: TwilioSendError) => {
      assert.equal(e.classification.retryable, true);
      assert.equal(e.classification.outcomeUncertain, true);
      assert.match(e.classification.description, /timed out/);
      return true;
    });
    await setConfig({ reset: true });

    // The sandbox's status callbacks (signed by twilio's library) pass our validator.
    await sandbox.idle();
    assert.ok(callbacks.length >= 2, `${callbacks.length} callbacks`);
    for (const cb of callbacks) {
      assert.equal(
        await validateTwilioSignature(AUTH_TOKEN, {
          signature: cb.signature,
          url: callbackUrl,
          params: cb.params,
        }),
        true,
        JSON.stringify(cb.params),
      );
    }
    assert.ok(callbacks.some((cb) => cb.params.MessageSid === sent.sid));
    // …and parse as status callbacks.
    for (const cb of callbacks) {
      const parsed = await parseTwilioWebhook(cb.params);
      assert.equal(parsed.ok && parsed.data.kind, "status", JSON.stringify(cb.params));
    }

    // A simulated inbound reply is signed the same way and parses as an inbound message.
    callbacks.length = 0;
    const inbound = await fetch(`${sandbox.url}/api/inbound`, {
      method: "POST",
      body: JSON.stringify({ from: TO, to: FROM, body: "Stop texting me" }),
    });
    assert.equal(inbound.status, 200, await inbound.clone().text());
    await inbound.body?.cancel();
    await sandbox.idle();
    assert.equal(callbacks.length, 1);
    const reply = callbacks[0];
    assert.equal(
      await validateTwilioSignature(AUTH_TOKEN, {
        signature: reply.signature,
        url: callbackUrl,
        params: reply.params,
      }),
      true,
    );
    const parsedReply = await parseTwilioWebhook(reply.params);
    assert.ok(parsedReply.ok && parsedReply.data.kind === "inbound", JSON.stringify(reply.params));
    assert.equal(parsedReply.data.data.Body, "Stop texting me");
  } finally {
    await sandbox.close();
    await receiver.shutdown();
  }
});
