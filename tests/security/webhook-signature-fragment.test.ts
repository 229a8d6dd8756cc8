/**
 * Twilio's connection overrides ride in the callback URL's fragment (`#rc=5&rp=…`), and Twilio
 * leaves the fragment out of the URL it signs ("these URL fragments do not make it into the
 * signature computation and should be left out on your side as well",
 * https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides). twilio-node's own
 * validator keeps a fragment it is given, so the URL the webhook checks must be the one without.
 */
import assert from "node:assert/strict";
import twilio from "twilio";
import { formParams, validateTwilioWebhook } from "@shared/twilio/signature.ts";
import { publicWebhookUrl } from "../../supabase/functions/twilio-webhook/webhook.ts";
import { DEFAULT_CONNECTION_OVERRIDES, withConnectionOverrides } from "@shared/twilio/client.ts";
import { retryPolicyOf } from "@local/sandbox/webhook.ts";

const TOKEN = "12345678901234567890123456789012";
const PUBLIC = "https://example.supabase.co/functions/v1/twilio-webhook";
const FORM = new URLSearchParams({
  MessageSid: `SM${"a".repeat(32)}`,
  MessageStatus: "delivered",
  AccountSid: `AC${"b".repeat(32)}`,
}).toString();

Deno.test("a callback signed as Twilio signs it (URL without its fragment) validates", async () => {
  const callback = withConnectionOverrides(PUBLIC, DEFAULT_CONNECTION_OVERRIDES);
  assert.equal(callback, `${PUBLIC}#${DEFAULT_CONNECTION_OVERRIDES}`);
  // The sandbox signs what Twilio signs: the URL it calls, fragment cut.
  const { target } = retryPolicyOf(callback);
  assert.equal(target, PUBLIC);
  const signature = twilio.getExpectedTwilioSignature(TOKEN, target, formParams(FORM));
  assert.equal(twilio.validateRequest(TOKEN, signature, PUBLIC, formParams(FORM)), true);
  // twilio-node given the URL with its fragment signs over it too, so it would refuse: the
  // fragment must be left out, as Twilio says.
  assert.equal(twilio.validateRequest(TOKEN, signature, callback, formParams(FORM)), false);

  // The webhook checks TWILIO_WEBHOOK_URL (with or without an operator's fragment) + the query.
  for (const configured of [PUBLIC, callback, `${PUBLIC}#rc=2`]) {
    const url = publicWebhookUrl(configured, "http://127.0.0.1:9000/twilio-webhook");
    assert.equal(url, PUBLIC);
    assert.equal(
      await validateTwilioWebhook(TOKEN, { signature, url, params: formParams(FORM), body: FORM }),
      true,
      configured,
    );
  }
  // A query string is still signed, the fragment still not.
  const withQuery = `${PUBLIC}?kind=status`;
  const signedQuery = twilio.getExpectedTwilioSignature(TOKEN, withQuery, formParams(FORM));
  const url = publicWebhookUrl(callback, "http://127.0.0.1:9000/twilio-webhook?kind=status");
  assert.equal(url, withQuery);
  assert.equal(
    await validateTwilioWebhook(TOKEN, {
      signature: signedQuery,
      url,
      params: formParams(FORM),
      body: FORM,
    }),
    true,
  );
  // A signature over the URL with the fragment is not Twilio's: refused.
  const overFragment = twilio.getExpectedTwilioSignature(TOKEN, callback, formParams(FORM));
  assert.equal(
    await validateTwilioWebhook(TOKEN, {
      signature: overFragment,
      url: publicWebhookUrl(callback, "http://127.0.0.1:9000/twilio-webhook"),
      params: formParams(FORM),
      body: FORM,
    }),
    false,
  );
});
