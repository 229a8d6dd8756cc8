/**
 * Log hygiene: everything the stack's functions wrote (stdout and stderr, captured by `npm test`
 * into `<stateDir>/logs/<name>.log`) holds no token, auth token, secret, key or message body.
 *
 * Named to run last (`deno test tests/` goes in path order), so the logs hold every end-to-end
 * suite's requests; it also runs flows of its own first — sent, deferred, refused by Twilio,
 * failed over and retried, reconciled after a dropped request, replies, and requests with bad
 * credentials — whose bodies, replies and wrong secrets carry a marker that must not appear.
 */
import assert from "node:assert/strict";
import { join } from "@local/paths.ts";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import {
  answerOf,
  drain,
  functionPort,
  info,
  makeTenant,
  RETRIES_URL,
  sandboxApi,
  sandboxConfig,
  SEND_SMS_URL,
  signForm,
  sleep,
  WEBHOOK_URL,
  zoneAtLocalHour,
} from "../reliability/support.ts";

const MARK = `LOGCANARY${crypto.randomUUID().replaceAll("-", "")}`;
const OWNER_TOKEN = info.tokens.users["owner@acme.test"];

async function post(url: string, headers: Record<string, string>, body: string) {
  return await answerOf(await fetch(url, { method: "POST", headers, body }));
}

const asUser = (token = OWNER_TOKEN) => ({
  authorization: `Bearer ${token}`,
  "content-type": "application/json",
});

/**
 * Every request the flows below make carries MARK where a careless log would copy it. Returns
 * the message bodies the stack knows at the end (before this test's tenant is dropped).
 */
async function flows(): Promise<string[]> {
  const sql = db(2);
  const tenant = await makeTenant(sql, "log hygiene", [
    { timeZone: zoneAtLocalHour(13) },
    { timeZone: zoneAtLocalHour(3) },
    { timeZone: zoneAtLocalHour(13), phone: "+15005550001" }, // Twilio: 21211 invalid number
    { timeZone: zoneAtLocalHour(13) },
  ]);
  const [day, night, invalid, other] = tenant.customers;
  try {
    await withCronPaused(sql, async () => {
      const send = (customerId: string, body: string, key?: string) =>
        post(SEND_SMS_URL, asUser(), JSON.stringify({ customerId, body, idempotencyKey: key }));
      assert.equal((await send(day.id, `${MARK} sent now`, `${MARK}-key`)).status, 200);
      assert.equal((await send(day.id, `${MARK} sent now`, `${MARK}-key`)).status, 200);
      assert.equal((await send(night.id, `${MARK} deferred to the morning`)).status, 202);
      assert.equal((await send(invalid.id, `${MARK} refused by Twilio`)).status, 422);
      await sandboxConfig({ rate5xx: 1 });
      assert.equal((await send(other.id, `${MARK} after a 5xx`)).status, 202);
      await sandboxConfig({ rate5xx: 0, rateTimeout: 1, timeoutHangMs: 200 });
      assert.equal((await send(other.id, `${MARK} after a dropped request`)).status, 202);
      await sandboxConfig({ reset: true });
      await drain(sql, tenant.businessId, { batchSize: 10, rounds: 5 });
      // Invalid bodies that echo their input would leak it.
      const bad = await post(SEND_SMS_URL, asUser(), `{"customerId":"${MARK}","body":"${MARK}"}`);
      assert.equal(bad.status, 400);
      for (const reply of [`${MARK} please call me back`, "HELP", "STOP", "START"]) {
        const r = await sandboxApi("/api/inbound", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ from: day.phone, body: reply }),
        }) as { status: number };
        assert.equal(r.status, 200);
      }
      // Credentials that are wrong, and a forged-looking token, straight at the function.
      const direct = `http://127.0.0.1:${functionPort("send-sms")}/send-sms`;
      const forged = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIke${MARK}.c2ln`;
      assert.equal((await post(direct, asUser(forged), "{}")).status, 401);
      assert.equal(
        (await post(RETRIES_URL, { authorization: `Bearer ${MARK}` }, "{}")).status,
        401,
      );
      const form = new URLSearchParams({ MessageSid: `SM${"1".repeat(32)}`, Body: MARK });
      const forgedSig = await post(
        WEBHOOK_URL,
        {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": signForm(WEBHOOK_URL, `${form}`, `${MARK}`.slice(0, 32)),
        },
        `${form}`,
      );
      assert.equal(forgedSig.status, 403);
    });
    return await bodiesInTheRun();
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
}

/** Message bodies the run used and the stack still knows: queued rows, replies, the sandbox. */
async function bodiesInTheRun(): Promise<string[]> {
  const sql = db(1);
  try {
    const rows = await sql<{ body: string }[]>`
      select body from sms.retry_queue
      union select body from public.sms_inbound_messages`;
    const sandbox = await sandboxApi("/api/messages") as { body: string }[];
    const inbound = await sandboxApi("/api/inbound") as { body: string }[];
    return [...new Set([...rows, ...sandbox, ...inbound].map((r) => r.body))];
  } finally {
    await sql.end();
  }
}

Deno.test({
  name: "log hygiene: no token, secret, key or message body in any function's logs",
  ignore: !info.functionLogDir,
  async fn() {
    const known = await flows();
    await sleep(500); // the last lines reach the files
    const dir = info.functionLogDir!;
    const logs: Record<string, string> = {};
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".log")) {
        logs[e.name] = await Deno.readTextFile(join(dir, e.name));
      }
    }
    for (const fn of ["send-sms", "twilio-webhook", "process-retries"]) {
      assert.ok((logs[`${fn}.log`] ?? "").includes(`"fn":"${fn}"`), `${fn}'s logs were captured`);
    }
    const keys = JSON.parse(await Deno.readTextFile(join(info.stateDir, "jwt-keys.json"))) as {
      privateJwk: { d: string };
      jwtSecret: string;
    };
    const secrets: Record<string, string> = {
      "Twilio auth token": info.twilio.authToken,
      "process-retries secret": info.processRetriesSecret,
      "anon key": info.tokens.anon,
      "service role key": info.tokens.serviceRole,
      "JWT signing key": keys.privateJwk.d,
      "legacy JWT secret": keys.jwtSecret,
      "secret API key": info.apiKeys.secret,
      "database URL": info.dbUrl,
      ...Object.fromEntries(
        Object.entries(info.tokens.users).map(([email, t]) => [`${email}'s token`, t]),
      ),
    };
    const bodies = [
      ...known,
      // Bodies of the other end-to-end suites, gone from the database by now.
      "Your order is ready",
      "We miss you! 20% off this week.",
      "Thanks for coming — see you soon",
      "See you tomorrow",
      "Closing soon",
      "Can I move my cleaning to Friday?",
      "Flash sale",
      "Review us? ",
    ].filter((b) => b.trim().length >= 10);
    // Tagged bodies of the reliability suites: "<tag> <uuid> #n", "soak <8 hex> #n".
    const tagged = [
      /[a-z] [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/,
      /soak [0-9a-f]{8} #/,
    ];
    // Field names that would carry a secret or a body, at any depth of a JSON log line.
    const badKey =
      /^(body|message_?body|text|authorization|auth_?token|token|jwt|secret|password|apikey|signature|x-twilio-signature)$/i;
    const keysOf = (v: unknown, out: string[] = []): string[] => {
      if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          out.push(k);
          keysOf(x, out);
        }
      }
      return out;
    };
    let lines = 0;
    let jsonLines = 0;
    for (const [file, text] of Object.entries(logs)) {
      lines += text.split("\n").length - 1;
      for (const [what, value] of Object.entries(secrets)) {
        assert.ok(!text.includes(value), `${file} holds the ${what}`);
      }
      const jwt = /eyJ[\w-]{6,}\.eyJ[\w-]{6,}/.exec(text);
      assert.equal(jwt, null, `${file} holds a JWT: ${jwt?.[0].slice(0, 20)}…`);
      assert.ok(!text.includes("LOGCANARY"), `${file} holds a marked body, reply or secret`);
      for (const body of bodies) assert.ok(!text.includes(body), `${file} holds a body: ${body}`);
      const phone = /\+\d{8,15}/.exec(text);
      assert.equal(phone, null, `${file} holds an unmasked phone number: ${phone?.[0]}`);
      for (const re of tagged) {
        const m = re.exec(text);
        assert.equal(m, null, `${file} holds a test body: ${m?.[0]}`);
      }
      for (const line of text.split("\n")) {
        if (!line.startsWith("{")) continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          continue;
        }
        jsonLines++;
        const bad = keysOf(parsed).filter((k) => badKey.test(k));
        assert.deepEqual(bad, [], `${file}: a log line carries ${bad.join(", ")}`);
      }
    }
    console.log(
      `log hygiene: ${Object.keys(logs).length} log files, ${lines} lines (${jsonLines} JSON); ` +
        `${Object.keys(secrets).length} secrets, ${bodies.length} bodies and the marker absent`,
    );
  },
});
