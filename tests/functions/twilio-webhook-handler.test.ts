/**
 * twilio-webhook's handler built with injected clients: what it does when it cannot validate,
 * which URL it validates against, and what its logs never contain.
 */
import assert from "node:assert/strict";
import twilio from "twilio";
import { createDb } from "@shared/runtime/db.ts";
import { type FunctionDeps, serveFunction } from "@shared/runtime/function.ts";
import { createWebhookHandler } from "../../supabase/functions/twilio-webhook/handler.ts";
import { stack } from "../support/stack.ts";
import { inboundParams, newPhone, newSid, statusParams } from "./twilio-webhook-support.ts";

const PUBLIC_URL = "https://abc.supabase.co/functions/v1/twilio-webhook";
const INTERNAL_URL = "http://127.0.0.1:9999/twilio-webhook";
const TOKEN = "f".repeat(32);

function deps(env: Record<string, string>, sql: FunctionDeps["sql"] = null): FunctionDeps {
  return { env, sql, twilio: null, now: () => new Date() };
}

function signedRequest(
  params: Record<string, string>,
  options: { signUrl?: string; url?: string; token?: string } = {},
): Request {
  return new Request(options.url ?? INTERNAL_URL, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": twilio.getExpectedTwilioSignature(
        options.token ?? TOKEN,
        options.signUrl ?? PUBLIC_URL,
        params,
      ),
    },
    body: new URLSearchParams(params).toString(),
  });
}

Deno.test("without the auth token or the public URL nothing is accepted: 503 sms_disabled", async () => {
  const params = statusParams(newSid(), "delivered");
  const envs: Record<string, string>[] = [
    {},
    { TWILIO_AUTH_TOKEN: TOKEN },
    { TWILIO_WEBHOOK_URL: PUBLIC_URL },
    { TWILIO_AUTH_TOKEN: "", TWILIO_WEBHOOK_URL: PUBLIC_URL },
  ];
  for (const env of envs) {
    // No database at all: a 503 must not need one.
    const serve = serveFunction("twilio-webhook", createWebhookHandler(deps(env)), {
      logSink: () => {},
    });
    const res = await serve(signedRequest(params));
    assert.equal(res.status, 503, JSON.stringify(env));
    assert.equal((await res.json()).error.code, "sms_disabled");
  }
});

Deno.test("the signature is checked against TWILIO_WEBHOOK_URL, never the request's own URL", async () => {
  const env = { TWILIO_AUTH_TOKEN: TOKEN, TWILIO_WEBHOOK_URL: PUBLIC_URL };
  const serve = serveFunction("twilio-webhook", createWebhookHandler(deps(env)), {
    logSink: () => {},
  });
  // Invalid content, so a request that passes the signature stops at parsing (no database).
  const params = { ...statusParams(newSid(), "delivered"), MessageStatus: "bogus" };
  const pub = await serve(signedRequest(params));
  assert.equal(pub.status, 400, "signed for the public URL: past the gate");
  await pub.body?.cancel();
  const own = await serve(signedRequest(params, { signUrl: INTERNAL_URL }));
  assert.equal(own.status, 403, "signed for the URL the function sees: refused");
  await own.body?.cancel();
  // The query string Twilio called is part of what it signed.
  const withQuery = await serve(
    signedRequest(params, { url: `${INTERNAL_URL}?a=1`, signUrl: `${PUBLIC_URL}?a=1` }),
  );
  assert.equal(withQuery.status, 400);
  await withQuery.body?.cancel();
  const queryDropped = await serve(signedRequest(params, { url: `${INTERNAL_URL}?a=1` }));
  assert.equal(queryDropped.status, 403);
  await queryDropped.body?.cancel();
});

Deno.test("logs carry no message body, no full phone number, no token", async () => {
  const info = stack();
  const sql = createDb(info.dbUrl, { max: 1 });
  const lines: string[] = [];
  try {
    const env = {
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_WEBHOOK_URL: PUBLIC_URL,
      TWILIO_PHONE_NUMBER: info.twilio.phoneNumber,
    };
    const serve = serveFunction("twilio-webhook", createWebhookHandler(deps(env, sql)), {
      logSink: (line) => lines.push(line),
    });
    const phone = newPhone();
    const secret = "my account number is 1234-5678";
    const res = await serve(signedRequest(inboundParams(phone, secret)));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/xml; charset=utf-8");
    await res.body?.cancel();
    const status = await serve(signedRequest(statusParams(newSid(), "sent")));
    assert.equal(status.status, 200);
    await status.body?.cancel();
    const forged = await serve(signedRequest(inboundParams(phone, secret), { token: "x" }));
    assert.equal(forged.status, 403);
    await forged.body?.cancel();

    const all = lines.join("\n");
    assert.ok(lines.length >= 2, all);
    assert.ok(!all.includes(secret), "no body");
    assert.ok(!all.includes(phone), "no full phone number");
    assert.ok(all.includes(phone.slice(-2)), "a masked one");
    assert.ok(!all.includes(TOKEN), "no token");
    assert.match(all, /"event":"unknown_message_sid"/);
  } finally {
    await sql.end();
  }
});

Deno.test("with Twilio's opt-out handling on (the default) the webhook adds no reply to its keywords", async () => {
  const info = stack();
  const sql = createDb(info.dbUrl, { max: 1 });
  const phone = newPhone();
  try {
    // No TWILIO_OPT_OUT_HANDLING: on. Twilio's default filtering sends no OptOutType.
    const env = {
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_WEBHOOK_URL: PUBLIC_URL,
      TWILIO_PHONE_NUMBER: info.twilio.phoneNumber,
    };
    const serve = serveFunction("twilio-webhook", createWebhookHandler(deps(env, sql)), {
      logSink: () => {},
    });
    const [{ id: customerId }] = await sql<{ id: string }[]>`
      insert into public.customers (business_id, name, phone, phone_status, sms_consent_status,
                                    sms_consent_at, time_zone, us_state)
      values (${info.seed.businesses[0].id}, 'Handling On', ${phone}, 'valid', 'opted_in', now(),
              'America/New_York', 'NY')
      returning id`;
    const reply = async (body: string) => {
      const res = await serve(signedRequest(inboundParams(phone, body)));
      assert.equal(res.status, 200);
      const m = /<Message>([^<]*)<\/Message>/.exec(await res.text());
      return m ? m[1] : null;
    };
    const consent = async () =>
      (await sql<{ s: string }[]>`
        select sms_consent_status as s from public.customers where id = ${customerId}`)[0].s;
    assert.equal(await reply("STOP"), null, "Twilio confirmed it");
    assert.equal(await consent(), "opted_out", "and it is applied");
    assert.equal(await reply("Start"), null);
    assert.equal(await consent(), "opted_in");
    assert.equal(await reply("HELP"), null);
    assert.equal(await reply("info"), null);
    // A revocation Twilio does not match is ours to confirm.
    assert.match(await reply("please stop texting me") ?? "", /You are unsubscribed/);
    assert.equal(await consent(), "opted_out");
    // Off: ours again.
    const off = serveFunction(
      "twilio-webhook",
      createWebhookHandler(deps({ ...env, TWILIO_OPT_OUT_HANDLING: "off" }, sql)),
      { logSink: () => {} },
    );
    const res = await off(signedRequest(inboundParams(phone, "HELP")));
    assert.match(await res.text(), /<Message>[^<]*For help contact help@acme\.test/);
  } finally {
    await sql`delete from sms.inbound_answers where from_phone = ${phone}`;
    await sql`delete from public.sms_inbound_messages where from_phone = ${phone}`;
    await sql`delete from public.customers where phone = ${phone}`;
    await sql.end();
  }
});
