/**
 * Every message's StatusCallback carries Twilio's connection overrides as its fragment
 * (`TWILIO_WEBHOOK_CONNECTION_OVERRIDES`, default DEFAULT_CONNECTION_OVERRIDES); a value outside
 * Twilio's documented keys and ranges is never sent (Twilio would fail every callback with it).
 */
import assert from "node:assert/strict";
import {
  connectionOverridesFromEnv,
  createTwilioClient,
  DEFAULT_CONNECTION_OVERRIDES,
  loadTwilioConfig,
  withConnectionOverrides,
} from "@shared/twilio/client.ts";

const ENV = {
  TWILIO_ACCOUNT_SID: "AC" + "0123456789abcdef".repeat(2),
  TWILIO_AUTH_TOKEN: "fedcba9876543210".repeat(2),
  TWILIO_PHONE_NUMBER: "+15005550006",
  TWILIO_WEBHOOK_URL: "https://ref.supabase.co/functions/v1/twilio-webhook",
};

Deno.test("connection overrides: default, custom, off, and invalid values", () => {
  assert.equal(DEFAULT_CONNECTION_OVERRIDES, "ct=3000&rt=12000&tt=15000&rc=5&rp=ct,rt,5xx");
  assert.equal(connectionOverridesFromEnv(undefined), DEFAULT_CONNECTION_OVERRIDES);
  assert.equal(connectionOverridesFromEnv(" "), DEFAULT_CONNECTION_OVERRIDES);
  assert.equal(connectionOverridesFromEnv("off"), null);
  assert.equal(connectionOverridesFromEnv("#rc=2&rp=all"), "rc=2&rp=all");
  assert.equal(connectionOverridesFromEnv("e=ashburn,umatilla&sni=n"), "e=ashburn,umatilla&sni=n");
  for (
    const bad of [
      "rc=6",
      "rp=5xx,sometimes",
      "ct=50",
      "rt=15001",
      "tt=0",
      "rc=1&rc=2",
      "xx=1",
      "rc",
      "rc=1=2",
      "rc=1&&rp=ct",
    ]
  ) {
    assert.equal(connectionOverridesFromEnv(bad), DEFAULT_CONNECTION_OVERRIDES, bad);
  }
  assert.equal(
    withConnectionOverrides("https://a.test/x?y=1", "rc=1"),
    "https://a.test/x?y=1#rc=1",
  );
  assert.equal(withConnectionOverrides("https://a.test/x#rc=0", "rc=5"), "https://a.test/x#rc=0");
  assert.equal(withConnectionOverrides("https://a.test/x", null), "https://a.test/x");
});

Deno.test("connection overrides: the StatusCallback sent to Twilio carries them", async () => {
  assert.equal(
    loadTwilioConfig(ENV)?.statusCallbackUrl,
    `${ENV.TWILIO_WEBHOOK_URL}#${DEFAULT_CONNECTION_OVERRIDES}`,
  );
  assert.equal(
    loadTwilioConfig({ ...ENV, TWILIO_WEBHOOK_CONNECTION_OVERRIDES: "off" })?.statusCallbackUrl,
    ENV.TWILIO_WEBHOOK_URL,
  );
  const forms: URLSearchParams[] = [];
  const client = createTwilioClient(loadTwilioConfig(ENV)!, {
    fetch: async (input, init) => {
      forms.push(new URLSearchParams(await new Request(input, init).text()));
      return new Response(JSON.stringify({ sid: "SM" + "1".repeat(32), status: "queued" }), {
        status: 201,
      });
    },
  });
  await client.sendMessage({ to: "+14155552671", body: "Hi" });
  assert.equal(
    forms[0].get("StatusCallback"),
    `${ENV.TWILIO_WEBHOOK_URL}#ct=3000&rt=12000&tt=15000&rc=5&rp=ct,rt,5xx`,
  );
});
