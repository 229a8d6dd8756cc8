/**
 * Fuzzing the three endpoints through the gateway with fast-check: random JSON and form bodies,
 * wrong content types, huge and empty bodies, invalid UTF-8, odd headers and methods, bad and
 * missing credentials. Every answer must be below 500 and, from a function, in the contract's
 * error shape; after every refusal the whole database is unchanged (row counts and a checksum of
 * every table in `public`); and no function process died.
 *
 * Cases per target: `FUZZ_RUNS` (default 250); a failing case prints fast-check's seed, which
 * `FUZZ_SEED` replays.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { SignJWT } from "jose";
import type postgres from "postgres";
import { mintUserToken, type StackKeys } from "@local/keys.ts";
import { join } from "@local/paths.ts";
import { sha256Hex } from "@shared/twilio/signature.ts";
import { parseProcessRetriesRequest } from "../../supabase/functions/process-retries/config.ts";
import { takeInboundRecovery } from "../../supabase/functions/process-retries/recover-inbound.ts";
import type { ErrorCode } from "@shared/contract/errors.ts";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import {
  type Answer,
  answerOf,
  assertContractError,
  changedTables,
  functionPort,
  info,
  makeTenant,
  quiesce,
  RETRIES_URL,
  SEND_SMS_URL,
  settle,
  signForm,
  snapshotAll,
  type Tenant,
  WEBHOOK_URL,
  workerStats,
  zoneAtLocalHour,
} from "./support.ts";
import {
  bodyBytes,
  describe,
  described,
  fetchBody,
  formKeyArb,
  formTextArb,
  formValueArb,
  type FuzzBody,
  type FuzzRequest,
  hugeArb,
  queryArb,
  requestArb,
} from "./fuzz-requests.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 250);
const SEED = Deno.env.get("FUZZ_SEED") ? Number(Deno.env.get("FUZZ_SEED")) : undefined;
const OWNER = "owner@acme.test";
const SEND_SMS_LIMIT = 16_384;
const WEBHOOK_LIMIT = 65_536;
const RETRIES_LIMIT = 4_096;

/** Sends one fuzz request. */
async function send(url: string, req: FuzzRequest, fixed: Record<string, string>) {
  const headers = new Headers();
  for (const [k, v] of req.headers) headers.append(k, v);
  if (req.contentType !== null) headers.set("content-type", req.contentType);
  for (const [k, v] of Object.entries(fixed)) headers.set(k, v);
  const res = await fetch(url + req.query, {
    method: req.method,
    headers,
    body: fetchBody(req.method, req.body),
    duplex: "half",
  } as RequestInit);
  return await answerOf(res, { ownAcceptEncoding: headers.has("accept-encoding") });
}

const upper = (m: string) => m.toUpperCase();
/** Methods fetch normalises to upper case; any other keeps its spelling on the wire. */
const wireMethod = (m: string) =>
  ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"].includes(upper(m)) ? upper(m) : m;

/** Tallies of one target, for the figures in docs/reliability.md. */
class Tally {
  cases = 0;
  byStatus = new Map<number, number>();
  byBody = new Map<string, number>();
  add(a: Answer, req: FuzzRequest) {
    this.cases++;
    this.byStatus.set(a.status, (this.byStatus.get(a.status) ?? 0) + 1);
    const label = req.body.kind === "none" ? "none" : req.body.label;
    this.byBody.set(label, (this.byBody.get(label) ?? 0) + 1);
  }
  toString() {
    const s = [...this.byStatus].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}×${v}`);
    const b = [...this.byBody].sort().map(([k, v]) => `${k} ${v}`);
    return `${this.cases} requests; answers ${s.join(" ")}; bodies ${b.join(", ")}`;
  }
}

interface Check {
  /** The answer is fine for this request; throws otherwise. */
  (a: Answer, req: FuzzRequest): void;
}

/**
 * Runs `RUNS` random requests against `url` and checks each answer; the database must be exactly
 * as before after every answer `mayWrite` does not allow a write for (then the tables written
 * must be among those it names).
 */
async function fuzz(
  sql: postgres.Sql,
  label: string,
  options: {
    url: string;
    fn: string;
    arb: fc.Arbitrary<FuzzRequest>;
    headers: (req: FuzzRequest) => Record<string, string>;
    check: Check;
    mayWrite?: (a: Answer, req: FuzzRequest) => string[] | "any" | null;
    /** Turns the generated request into the one sent (e.g. signs it). */
    prepare?: (req: FuzzRequest) => Promise<FuzzRequest>;
    runs?: number;
  },
): Promise<Tally> {
  const tally = new Tally();
  const before = await workerStats(options.fn);
  let baseline = await snapshotAll(sql);
  await fc.assert(
    fc.asyncProperty(options.arb, async (generated) => {
      const req = options.prepare ? await options.prepare(generated) : generated;
      const a = await send(options.url, req, options.headers(req)).catch((e) => {
        throw new Error(`${label}: request failed (${(e as Error).message}): ${describe(req)}`);
      });
      tally.add(a, req);
      const where = `${label}: ${describe(req)} → ${a.status} ${a.text.slice(0, 200)}`;
      assert.ok(a.status < 500, `never a 5xx for bad input: ${where}`);
      options.check(a, req);
      const after = await snapshotAll(sql);
      const changed = changedTables(baseline, after);
      const allowed = options.mayWrite?.(a, req) ?? null;
      if (allowed !== "any") {
        const extra = changed.filter((t) => !(allowed ?? []).includes(t));
        assert.deepEqual(extra, [], `the database is unchanged: ${where}`);
        baseline = after;
      } else {
        // A message went out: its status callbacks are stopped and the database settles
        // before the next request is judged.
        baseline = await settle(sql);
      }
    }),
    { numRuns: options.runs ?? RUNS, seed: SEED, endOnFailure: true },
  );
  // Workers may be retired (the CPU soft limit over many requests); none may crash or be cut off.
  const after = await workerStats(options.fn);
  assert.deepEqual(
    [after.crashed, after.terminated],
    [before.crashed, before.terminated],
    `${options.fn} never died`,
  );
  console.log(`fuzz ${label}: ${tally}`);
  return tally;
}

/** A contract error, or (OPTIONS) the CORS preflight answer, or (HEAD) an empty error. */
function expectError(allowed: ErrorCode[], label: string): Check {
  return (a, req) => {
    const m = upper(req.method);
    if (m === "OPTIONS") return assert.equal(a.status, 200, `${label}: preflight`);
    if (m === "HEAD") {
      assert.ok(a.status >= 400 && a.status < 500, `${label}: HEAD → ${a.status}`);
      return;
    }
    assertContractError(a, allowed, `${label}: ${describe(req)}`);
  };
}

/** The code a non-POST request gets from the functions (OPTIONS aside): invalid_request. */
const isPost = (req: FuzzRequest) => wireMethod(req.method) === "POST";

// --- send-sms ----------------------------------------------------------------------------------

/** Customers send-sms must refuse: every kind of refusal the contract has. */
async function refusalCustomers(sql: postgres.Sql): Promise<{ tenant: Tenant; ids: string[] }> {
  const day = zoneAtLocalHour(13);
  const tenant = await makeTenant(sql, "fuzz", [
    { timeZone: day, consent: "opted_out" },
    { timeZone: day, consent: "unknown" },
    { timeZone: day, phoneStatus: "invalid" },
    { timeZone: day, phoneStatus: "landline" },
  ]);
  const bay = info.seed.customers.find((c) => c.businessId === info.seed.businesses[1].id)!;
  return { tenant, ids: [...tenant.customers.map((c) => c.id), bay.id] };
}

function sendSmsBodies(customerIds: string[]): fc.Arbitrary<FuzzBody> {
  const anyJson = fc.jsonValue();
  const customerId = fc.oneof(
    fc.constantFrom(...customerIds),
    fc.uuid(),
    fc.constantFrom("", "not-a-uuid", "00000000-0000-0000-0000-000000000000"),
    anyJson,
  );
  const body = fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }).map((s) => `fuzz ${s}`),
    fc.constantFrom("", "   ", "🙂".repeat(200), "x".repeat(1700), "\u0000", "€".repeat(100)),
    anyJson,
  );
  const key = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 300 }), anyJson);
  return fc.record(
    { customerId, body, idempotencyKey: key, extra: anyJson },
    { requiredKeys: [] },
  ).map((o) => ({ kind: "text", label: "send-sms-shaped", text: JSON.stringify(o) }));
}

Deno.test("fuzz send-sms with a user's token: only contract refusals, nothing written", async () => {
  const sql = db(2);
  const { tenant, ids } = await refusalCustomers(sql);
  try {
    await withCronPaused(sql, async () => {
      await quiesce(sql);
      const token = info.tokens.users[OWNER];
      await fuzz(sql, "send-sms (user token)", {
        url: SEND_SMS_URL,
        fn: "send-sms",
        arb: requestArb({
          limit: SEND_SMS_LIMIT,
          special: [sendSmsBodies(ids)],
          excludeHeaders: ["authorization"],
        }),
        headers: () => ({ authorization: `Bearer ${token}` }),
        check: (a, req) => {
          if (!isPost(req) && upper(req.method) !== "OPTIONS" && upper(req.method) !== "HEAD") {
            return assertContractError(a, ["invalid_request"], `send-sms ${describe(req)}`);
          }
          expectError([
            "invalid_request",
            "customer_not_found",
            "no_consent",
            "opted_out",
            "invalid_phone",
            "message_too_long",
          ], "send-sms")(a, req);
        },
      });
    });
  } finally {
    await tenant.drop();
    await sql.end();
  }
});

Deno.test("fuzz send-sms to customers it may text: never a 5xx, writes only with 200/202", async () => {
  const sql = db(2);
  // One customer in the daytime (sent now), one at night (deferred to the morning).
  const tenant = await makeTenant(sql, "fuzz sendable", [
    { timeZone: zoneAtLocalHour(13) },
    { timeZone: zoneAtLocalHour(3) },
  ]);
  const ids = tenant.customers.map((c) => c.id);
  // Text Postgres cannot store (NUL), lone surrogates, emoji across the limits, random Unicode.
  const text = fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 200 }),
    fc.constantFrom(
      "a\u0000b",
      "\u0000",
      "\ud83d",
      "x\udc00y",
      "🙂".repeat(67),
      "x" + "😀".repeat(160),
      "\u202e\u200b\ufeff",
    ),
    fc.tuple(fc.string({ unit: "binary", maxLength: 20 }), fc.constantFrom("\u0000", "\ud800"))
      .map(([a, b]) => `${a}${b}${a}`),
  );
  const bodies = fc.record({
    customerId: fc.constantFrom(...ids),
    body: text,
    idempotencyKey: fc.oneof(fc.constant(undefined), text, fc.uuid()),
  }, { requiredKeys: ["customerId", "body"] }).map((o): FuzzBody => ({
    kind: "text",
    label: "sendable",
    // JSON.stringify keeps lone surrogates as \u escapes, as a client might send them.
    text: JSON.stringify(o),
  }));
  try {
    await withCronPaused(sql, async () => {
      await quiesce(sql);
      const token = info.tokens.users[OWNER];
      await fuzz(sql, "send-sms (sendable customers)", {
        url: SEND_SMS_URL,
        fn: "send-sms",
        arb: fc.record({
          method: fc.constant("POST"),
          contentType: fc.constant("application/json"),
          headers: fc.constant([] as [string, string][]),
          body: bodies,
          query: fc.constant(""),
        }).map(described),
        headers: () => ({ authorization: `Bearer ${token}` }),
        check: (a, req) => {
          if (a.status === 200 || a.status === 202) {
            const s = (a.json as { status?: string }).status;
            assert.ok(s === "sent" || s === "deferred", `${describe(req)} → ${a.text}`);
            return;
          }
          assertContractError(
            a,
            ["invalid_request", "message_too_long", "provider_rejected", "idempotency_conflict"],
            describe(req),
          );
        },
        // A send or a deferral writes; so does a message Twilio refused (its log, failed).
        mayWrite: (a) =>
          a.status < 300 || (a.json as { error?: { details?: { twilioCode?: number } } })?.error
              ?.details?.twilioCode
            ? "any"
            : null,
        runs: Math.ceil(RUNS / 2),
      });
    });
  } finally {
    await tenant.drop();
    await sql.end();
  }
});

/** Tokens that are not a signed-in user's: missing, malformed, forged, expired, API keys. */
async function badTokens(): Promise<string[]> {
  const keys = JSON.parse(
    await Deno.readTextFile(join(info.stateDir, "jwt-keys.json")),
  ) as StackKeys;
  const owner = info.seed.businesses[0].users.find((u) => u.email === OWNER)!;
  const issuer = `${info.apiUrl}/auth/v1`;
  const expired = await mintUserToken(keys, { sub: owner.id, email: OWNER }, {
    issuer,
    expiresIn: -60,
  });
  const foreignKey = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const forged = await new SignJWT({ role: "authenticated", email: OWNER })
    .setProtectedHeader({ alg: "ES256", kid: keys.kid, typ: "JWT" })
    .setSubject(owner.id)
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(foreignKey.privateKey);
  const b64 = (o: unknown) =>
    btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  const none = `${b64({ alg: "none", typ: "JWT" })}.${
    b64({ sub: owner.id, role: "authenticated", exp: 4102444800 })
  }.`;
  const real = info.tokens.users[OWNER];
  const [h, p] = real.split(".");
  return [
    "",
    "Bearer",
    "Bearer ",
    "Basic b3duZXI6cGFzcw==",
    real,
    `bearer  ${real}x`,
    `Bearer ${h}.${p}.AAAA`,
    `Bearer ${h}.${p}`,
    `Bearer ${expired}`,
    `Bearer ${forged}`,
    `Bearer ${none}`,
    `Bearer ${info.tokens.anon}`,
    `Bearer ${info.tokens.serviceRole}`,
    `Bearer ${"eyJ".repeat(3000)}`,
  ];
}

Deno.test("fuzz send-sms without a user's token: 401, nothing written (gateway and function)", async () => {
  const sql = db(2);
  try {
    await withCronPaused(sql, async () => {
      await quiesce(sql);
      const tokens = await badTokens();
      const withToken = fc.tuple(
        requestArb({ limit: SEND_SMS_LIMIT, excludeHeaders: ["authorization"] }),
        fc.constantFrom(...tokens),
      ).map(([req, token]) => ({ ...req, headers: [...req.headers, ["authorization", token]] }))
        .map((req) => described(req as FuzzRequest));
      const anonOrServiceRole = (req: FuzzRequest) =>
        req.headers.some(([k, v]) =>
          k === "authorization" &&
          (v.endsWith(info.tokens.anon) || v.endsWith(info.tokens.serviceRole))
        );
      // Through the gateway (verify_jwt = true): refused there, or by the function for tokens
      // the gateway accepts (the API keys are valid JWTs but not users).
      await fuzz(sql, "send-sms (bad tokens, gateway)", {
        url: SEND_SMS_URL,
        fn: "send-sms",
        arb: withToken,
        headers: () => ({}),
        check: (a, req) => {
          const m = upper(req.method);
          if (m === "OPTIONS") return assert.equal(a.status, 200);
          if (!anonOrServiceRole(req)) {
            return assert.equal(a.status, 401, `gateway refuses: ${describe(req)}`);
          }
          if (m === "HEAD") return assert.ok(a.status === 400 || a.status === 401);
          if (!isPost(req)) return assertContractError(a, ["invalid_request"], describe(req));
          assertContractError(a, ["unauthorized"], describe(req));
        },
        runs: Math.ceil(RUNS / 2),
      });
      // Straight at the function, as on a project whose gateway check is off: its own check.
      await fuzz(sql, "send-sms (bad tokens, function)", {
        url: `http://127.0.0.1:${functionPort("send-sms")}/send-sms`,
        fn: "send-sms",
        arb: withToken,
        headers: () => ({}),
        check: (a, req) => {
          const m = upper(req.method);
          if (m === "OPTIONS") return assert.equal(a.status, 200);
          if (m === "HEAD") return assert.ok(a.status === 400);
          if (!isPost(req)) return assertContractError(a, ["invalid_request"], describe(req));
          assertContractError(a, ["unauthorized"], describe(req));
        },
        runs: Math.ceil(RUNS / 2),
      });
    });
  } finally {
    await sql.end();
  }
});

// --- twilio-webhook ----------------------------------------------------------------------------

const FORM = "application/x-www-form-urlencoded";

/** The webhook's order of checks for a POST it cannot authenticate. */
function unsignedExpectation(req: FuzzRequest): "forbidden" | "invalid_request" | "either" {
  const bytes = bodyBytes(req.body);
  if (req.body.kind === "huge" || (bytes?.length ?? 0) > WEBHOOK_LIMIT) return "invalid_request";
  let text = "";
  if (bytes) {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return "invalid_request";
    }
  }
  const type = (req.contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type === "application/json" || type === FORM || (type === "" && text === "")) {
    return "forbidden";
  }
  return "invalid_request";
}

Deno.test("fuzz twilio-webhook unsigned or badly signed: 403/400, nothing written", async () => {
  const sql = db(2);
  try {
    await withCronPaused(sql, async () => {
      await quiesce(sql);
      const otherToken = "0123456789abcdef0123456789abcdef";
      const arb = fc.tuple(
        requestArb({
          limit: WEBHOOK_LIMIT,
          special: [formTextArb.map((text): FuzzBody => ({ kind: "text", label: "form", text }))],
          excludeHeaders: ["x-twilio-signature"],
          query: queryArb,
        }),
        fc.constantFrom("none", "random", "other-token", "other-url", "tampered", "json-no-hash"),
      ).map(([req, how]): FuzzRequest => {
        const bytes = bodyBytes(req.body);
        const text = bytes ? new TextDecoder().decode(bytes) : "";
        let sig: string | null;
        switch (how) {
          case "none":
            sig = null;
            break;
          case "random":
            sig = btoa(String(Math.random())).slice(0, 28);
            break;
          case "other-token":
            sig = signForm(WEBHOOK_URL + req.query, text, otherToken);
            break;
          case "other-url":
            sig = signForm(`https://example.com/functions/v1/twilio-webhook${req.query}`, text);
            break;
          case "tampered":
            sig = signForm(WEBHOOK_URL + req.query, `${text}&Tampered=1`);
            break;
          default:
            // A JSON body under a signature of the URL alone (no bodySHA256): never accepted.
            return described({
              ...req,
              contentType: "application/json",
              headers: [...req.headers, [
                "x-twilio-signature",
                signForm(WEBHOOK_URL + req.query, ""),
              ]],
            });
        }
        return described(
          sig === null ? req : { ...req, headers: [...req.headers, ["x-twilio-signature", sig]] },
        );
      });
      await fuzz(sql, "twilio-webhook (unsigned)", {
        url: WEBHOOK_URL,
        fn: "twilio-webhook",
        arb,
        headers: () => ({}),
        check: (a, req) => {
          const m = upper(req.method);
          if (m === "OPTIONS") return assert.equal(a.status, 200);
          if (m === "HEAD") return assert.equal(a.status, 400);
          if (!isPost(req)) return assertContractError(a, ["invalid_request"], describe(req));
          const want = unsignedExpectation(req);
          assertContractError(
            a,
            want === "either" ? ["forbidden", "invalid_request"] : [want],
            describe(req),
          );
        },
      });
    });
  } finally {
    await sql.end();
  }
});

/** A signed request: form (params signed) or JSON (bodySHA256 in the URL, URL signed). */
async function signed(req: FuzzRequest, asJson: boolean): Promise<FuzzRequest> {
  const bytes = bodyBytes(req.body);
  const text = bytes ? new TextDecoder().decode(bytes) : "";
  if (asJson) {
    // twilio-node hashes "{}" for an empty body (validateIncomingRequest: `rawBody || "{}"`).
    const query = `?bodySHA256=${await sha256Hex(text || "{}")}${
      req.query ? `&${req.query.slice(1)}` : ""
    }`;
    const sig = signForm(WEBHOOK_URL + query, "");
    return {
      ...req,
      query,
      contentType: "application/json",
      headers: [...req.headers, ["x-twilio-signature", sig]],
    };
  }
  return {
    ...req,
    contentType: req.contentType?.toLowerCase().startsWith(FORM) ? req.contentType : FORM,
    headers: [...req.headers, ["x-twilio-signature", signForm(WEBHOOK_URL + req.query, text)]],
  };
}

Deno.test("fuzz twilio-webhook signed garbage (twilio's own signature): 400 or 200, never 403/500", async () => {
  const sql = db(2);
  // A customer whose number some replies come from: those replies are stored and applied.
  const tenant = await makeTenant(sql, "fuzz webhook", [{ timeZone: zoneAtLocalHour(13) }]);
  const known = tenant.customers[0].phone;
  try {
    await withCronPaused(sql, async () => {
      await quiesce(sql);
      const jsonObjects = fc.dictionary(
        fc.oneof(fc.constantFrom("MessageSid", "MessageStatus", "Body", "From", "To"), fc.string()),
        fc.jsonValue(),
      ).map((o): FuzzBody => ({ kind: "text", label: "json-object", text: JSON.stringify(o) }));
      const forms = formTextArb.map((text): FuzzBody => ({ kind: "text", label: "form", text }));
      // Near-valid callbacks and replies: right names, unknown sids and numbers, each value valid
      // nine times in ten. At even odds per field about 3 cases in 250 passed the schema and a run
      // in 20 reached none; now about 11 do (107 of 2,500 measured).
      const mostly = <T, U>(valid: fc.Arbitrary<T>, junk: fc.Arbitrary<U>) =>
        fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: junk });
      const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
      const nearValid = fc.tuple(
        fc.record({
          AccountSid: mostly(fc.constant(info.twilio.accountSid), formValueArb),
          MessageSid: mostly(hex32.map((h) => `SM${h}`), formValueArb),
          MessageStatus: mostly(
            fc.constantFrom("queued", "sent", "delivered", "undelivered", "failed", "read"),
            formValueArb,
          ),
          ErrorCode: mostly(fc.constantFrom("30003", "30007", "21610", "30005"), formValueArb),
          From: mostly(fc.constant(info.twilio.phoneNumber), formValueArb),
          ErrorMessage: mostly(fc.constantFrom("Unknown\u0000error"), formValueArb),
          ChannelStatusMessage: fc.constantFrom("ok", "x" + "😀".repeat(150), "a\u0000"),
        }, { requiredKeys: ["MessageSid"] }),
        fc.record({
          MessageSid: hex32.map((h) => `SM${h}`),
          AccountSid: fc.constant(info.twilio.accountSid),
          From: mostly(
            fc.oneof(
              hex32.map((h) => `+1646${h.replace(/\D/g, "7").slice(0, 7)}`),
              fc.constant(known),
            ),
            formValueArb,
          ),
          To: mostly(fc.constant(info.twilio.phoneNumber), formValueArb),
          Body: mostly(
            fc.constantFrom("STOP", "START", "HELP", "hi", "STOP\u0000", "x" + "😀".repeat(400)),
            formValueArb,
          ),
          SmsStatus: fc.constant("received"),
        }, { requiredKeys: ["MessageSid", "Body"] }),
        fc.array(fc.tuple(formKeyArb, formValueArb), { maxLength: 3 }),
        fc.boolean(),
      ).map(([status, inbound, junk, isInbound]): FuzzBody => {
        const form = new URLSearchParams(Object.entries(isInbound ? inbound : status));
        for (const [k, v] of junk) form.append(k, v);
        return {
          kind: "text",
          label: isInbound ? "reply-shaped" : "callback-shaped",
          text: `${form}`,
        };
      });
      const base = requestArb({
        limit: WEBHOOK_LIMIT,
        special: [forms, nearValid, nearValid, jsonObjects, hugeArb(WEBHOOK_LIMIT)],
        excludeHeaders: ["x-twilio-signature"],
        query: queryArb,
      }).filter((r) => isPost(r));
      const arb = fc.tuple(base, fc.boolean()).map(([req, asJson]) => ({ req, asJson }));
      const tally = await fuzz(sql, "twilio-webhook (signed)", {
        url: WEBHOOK_URL,
        fn: "twilio-webhook",
        // The signature is computed per case, so the arbitrary carries the unsigned request.
        arb: arb.map((x) => described({ ...x.req, signAsJson: x.asJson } as FuzzRequest)),
        headers: () => ({}),
        check: (a, req) => {
          if (a.status === 200) {
            assert.match(a.contentType, /^text\/xml/, describe(req));
            assert.match(a.text, /^<\?xml[^>]*>\s*<Response>/, describe(req));
            return;
          }
          assertContractError(a, ["invalid_request"], `signed ${describe(req)}`);
        },
        // A well-formed callback for an unknown sid is recorded (unattributed): nothing else.
        // A reply from the known customer is stored and may change their consent.
        mayWrite: (a, req) => {
          if (a.status !== 200) return null;
          const text = req.body.kind === "text" ? req.body.text : "";
          return text.includes(encodeURIComponent(known)) ? "any" : ["sms_message_events"];
        },
        prepare: (req) => signed(req, (req as { signAsJson?: boolean }).signAsJson === true),
      });
      assert.ok((tally.byStatus.get(200) ?? 0) > 0, "some garbage passed the schema (200)");
      assert.ok((tally.byStatus.get(400) ?? 0) > 0, "most garbage was refused (400)");
    });
  } finally {
    await tenant.drop();
    await sql.end();
  }
});

// --- process-retries ---------------------------------------------------------------------------

/** What process-retries must answer a body sent with the right secret. */
function retriesExpectation(req: FuzzRequest): 200 | 400 {
  if (req.body.kind === "huge") return 400;
  const bytes = bodyBytes(req.body) ?? new Uint8Array();
  if (bytes.length > RETRIES_LIMIT) return 400;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return 400;
  }
  try {
    // The handler's order: the recovery option comes out first, the rest is the run's.
    const { rest } = takeInboundRecovery(text.trim() ? JSON.parse(text) : null, new Date());
    parseProcessRetriesRequest(rest);
    return 200;
  } catch {
    return 400;
  }
}

Deno.test("fuzz process-retries: wrong secret → 401, right secret + garbage → 400, nothing written", async () => {
  const sql = db(2);
  try {
    await withCronPaused(sql, async () => {
      await quiesce(sql);
      const secret = info.processRetriesSecret;
      const wrong = [
        {},
        { authorization: "Bearer" },
        { authorization: "Bearer wrong" },
        { authorization: `Bearer ${secret}x` },
        { authorization: `Bearer x${secret}` },
        { authorization: `Bearer ${secret.slice(0, -1)}` },
        { authorization: secret },
        { authorization: `Basic ${btoa(`cron:${secret}`)}` },
        { authorization: `Bearer ${secret.toUpperCase()}X` },
        { authorization: `Bearer ${info.tokens.serviceRole}` },
        { "x-cron-secret": secret.slice(1) },
        { "x-cron-secret": `${secret} ${secret}` },
      ];
      const excluded = ["authorization", "x-cron-secret"];
      await fuzz(sql, "process-retries (wrong secret)", {
        url: RETRIES_URL,
        fn: "process-retries",
        arb: fc.tuple(
          requestArb({ limit: RETRIES_LIMIT, excludeHeaders: excluded }),
          fc.constantFrom(...wrong),
        ).map(([req, h]) => described({ ...req, headers: [...req.headers, ...Object.entries(h)] })),
        headers: () => ({}),
        check: (a, req) => {
          const m = upper(req.method);
          if (m === "OPTIONS") return assert.equal(a.status, 200);
          if (m === "HEAD") return assert.equal(a.status, 400);
          if (!isPost(req)) return assertContractError(a, ["invalid_request"], describe(req));
          assertContractError(a, ["unauthorized"], describe(req));
        },
      });
      const retryBodies = fc.record({
        batchSize: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
        budgetMs: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
        maxSegmentsPerSecond: fc.oneof(fc.double(), fc.jsonValue()),
        concurrency: fc.oneof(fc.integer(), fc.jsonValue()),
        // Instants around now (some valid windows, most not), odd strings and any JSON.
        recoverInbound: fc.oneof(
          fc.jsonValue(),
          fc.record({
            since: fc.oneof(
              fc.integer({ min: -9 * 86_400, max: 600 }).map((s) =>
                new Date(Date.now() + s * 1000).toISOString()
              ),
              fc.string(),
              fc.jsonValue(),
            ),
            until: fc.oneof(
              fc.integer({ min: -86_400, max: 3_600 }).map((s) =>
                new Date(Date.now() + s * 1000).toISOString()
              ),
              fc.jsonValue(),
            ),
            maxPages: fc.oneof(fc.integer({ min: -1, max: 50 }), fc.jsonValue()),
            other: fc.jsonValue(),
          }, { requiredKeys: [] }),
        ),
        other: fc.jsonValue(),
      }, { requiredKeys: [] }).map((o): FuzzBody => ({
        kind: "text",
        label: "retries-shaped",
        text: JSON.stringify(o),
      }));
      const ran = { runs: 0 };
      await fuzz(sql, "process-retries (right secret)", {
        url: RETRIES_URL,
        fn: "process-retries",
        arb: requestArb({ limit: RETRIES_LIMIT, special: [retryBodies], excludeHeaders: excluded })
          .filter((r) => isPost(r)),
        headers: () => ({ authorization: `Bearer ${secret}` }),
        check: (a, req) => {
          const want = retriesExpectation(req);
          if (want === 200) {
            ran.runs++;
            assert.equal(a.status, 200, `a valid body runs the queue: ${describe(req)}`);
            return;
          }
          assertContractError(a, ["invalid_request"], describe(req));
        },
        // A run that was allowed writes its heartbeat (and works the queue, if anything is due).
        mayWrite: (a) => (a.status === 200 ? "any" : null),
      });
      console.log(`fuzz process-retries (right secret): ${ran.runs} valid bodies ran the queue`);
    });
  } finally {
    await sql.end();
  }
});
