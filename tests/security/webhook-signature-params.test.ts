/**
 * Webhook signatures over parameters whose names are also properties of every JavaScript object
 * ("constructor", "toString", "__proto__"…): found by the webhook fuzzer, which had Twilio-signed
 * form bodies refused 403 because `formParams` collected them into a plain object. The
 * signature must cover exactly the parameters posted, as twilio-node's does.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import twilio from "twilio";
import { formParams, validateTwilioWebhook } from "@shared/twilio/signature.ts";

const TOKEN = "12345678901234567890123456789012";
const URL_ = "https://example.supabase.co/functions/v1/twilio-webhook";

/** The form's parameters as Twilio signs them (repeated names → arrays), without a prototype. */
function twilioParams(form: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of new URLSearchParams(form)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

const RISKY = [
  "constructor",
  "toString",
  "__proto__",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
];

Deno.test("a signed form with prototype-named parameters validates, and only as signed", async () => {
  for (const name of RISKY) {
    const form = new URLSearchParams([
      ["MessageSid", `SM${"a".repeat(32)}`],
      [name, "x"],
      [name, "y"],
    ]).toString();
    const signature = twilio.getExpectedTwilioSignature(TOKEN, URL_, twilioParams(form));
    assert.equal(twilio.validateRequest(TOKEN, signature, URL_, twilioParams(form)), true);
    const ok = await validateTwilioWebhook(TOKEN, {
      signature,
      url: URL_,
      params: formParams(form),
      body: form,
    });
    assert.equal(ok, true, `${name}: a genuine signature is accepted`);
    const tampered = form.replace("=y", "=z");
    assert.equal(
      await validateTwilioWebhook(TOKEN, {
        signature,
        url: URL_,
        params: formParams(tampered),
        body: tampered,
      }),
      false,
      `${name}: a changed value is refused`,
    );
  }
});

Deno.test("formParams agrees with twilio-node on random forms with risky names (500 cases)", async () => {
  const key = fc.oneof(fc.constantFrom(...RISKY, "Body", "From"), fc.string({ maxLength: 6 }));
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(key, fc.string({ maxLength: 8 })), { maxLength: 6 }),
      async (pairs) => {
        const form = new URLSearchParams(pairs).toString();
        const signature = twilio.getExpectedTwilioSignature(TOKEN, URL_, twilioParams(form));
        const ours = await validateTwilioWebhook(TOKEN, {
          signature,
          url: URL_,
          params: formParams(form),
          body: form,
        });
        assert.equal(ours, true, form);
      },
    ),
    { numRuns: 500 },
  );
});
