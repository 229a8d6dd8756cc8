/**
 * Listing the inbound messages of a window from Twilio's Messages list (the sandbox's), as
 * process-retries' inbound recovery reads them: To and DateSent filters, inbound only, page by
 * page up to a limit that says when it stopped early; and what recovery accepts as a window.
 */
import assert from "node:assert/strict";
import { startSandbox } from "@local/sandbox/server.ts";
import { createTwilioClient, loadTwilioConfig } from "@shared/twilio/client.ts";
import { listInboundMessages, twilioDateTime } from "@shared/twilio/inbound-messages.ts";
import {
  MAX_RECOVERY_PAGES,
  receivedAt,
  takeInboundRecovery,
} from "../../supabase/functions/process-retries/recover-inbound.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const AUTH_TOKEN = "fedcba9876543210".repeat(2);
const OURS = "+16465001111";
const OTHER = "+16465002222";

Deno.test("inbound list: the window's inbound messages to our number, page by page", async () => {
  // Nothing listens here: every inbound webhook fails, as during an outage.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dead = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/hook`;
  listener.close();
  const sandbox = await startSandbox({
    port: 0,
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    phoneNumbers: [OURS, OTHER],
    inboundWebhookUrl: dead,
    config: { callbackDelayMs: 1 },
  });
  try {
    const before = new Date(Date.now() - 1000);
    const inbound = async (from: string, to: string, body: string) => {
      const res = await fetch(`${sandbox.url}/api/inbound`, {
        method: "POST",
        body: JSON.stringify({ from, to, body }),
      });
      await res.body?.cancel();
      assert.equal(res.status, 502);
    };
    for (let i = 0; i < 120; i++) {
      await inbound(`+1212555${String(i).padStart(4, "0")}`, OURS, `r${i}`);
    }
    await inbound("+12125559999", OTHER, "to the other number");
    // An outbound message to one of them is not a reply.
    const twilio = createTwilioClient(
      loadTwilioConfig({
        TWILIO_ACCOUNT_SID: ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: AUTH_TOKEN,
        TWILIO_PHONE_NUMBER: OURS,
        TWILIO_API_BASE_URL: sandbox.url,
      })!,
    );
    await twilio.sendMessage({ to: "+12125550001", body: "outbound" });
    const after = new Date(Date.now() + 1000);

    const one = await listInboundMessages(twilio, {
      to: OURS,
      sentAfter: before,
      sentBefore: after,
      maxPages: 1,
    });
    assert.equal(one.messages.length, 50);
    assert.equal(one.complete, false);
    const all = await listInboundMessages(twilio, {
      to: OURS,
      sentAfter: before,
      sentBefore: after,
      maxPages: 3,
    });
    assert.equal(all.complete, true);
    assert.equal(all.messages.length, 120);
    assert.equal(new Set(all.messages.map((m) => m.sid)).size, 120);
    for (const m of all.messages) {
      assert.equal(m.to, OURS);
      assert.match(m.from, /^\+1212555\d{4}$/);
      assert.ok(m.dateSent >= new Date(Math.floor(before.getTime() / 1000) * 1000));
    }
    // Every number of the account (a Messaging Service's senders): the other number's too.
    const everyNumber = await listInboundMessages(twilio, {
      to: null,
      sentAfter: before,
      sentBefore: after,
      maxPages: 3,
    });
    assert.equal(everyNumber.messages.length, 121);
    // A window before any of them: nothing.
    const earlier = await listInboundMessages(twilio, {
      to: OURS,
      sentAfter: new Date(before.getTime() - 3_600_000),
      sentBefore: new Date(before.getTime() - 60_000),
      maxPages: 3,
    });
    assert.deepEqual(earlier, { messages: [], complete: true });
  } finally {
    await sandbox.close();
  }
});

Deno.test("inbound recovery: the option's bounds, and when a reply counts from", () => {
  const now = new Date("2026-12-04T22:00:00Z");
  assert.equal(twilioDateTime(new Date("2026-12-04T21:00:00.123Z")), "2026-12-04T21:00:00Z");
  assert.deepEqual(takeInboundRecovery({ batchSize: 5 }, now), {
    rest: { batchSize: 5 },
    recovery: null,
  });
  assert.deepEqual(
    takeInboundRecovery(
      { batchSize: 5, recoverInbound: { since: "2026-12-04T21:00:00+01:00" } },
      now,
    ),
    {
      rest: { batchSize: 5 },
      recovery: {
        since: new Date("2026-12-04T20:00:00Z"),
        until: now,
        maxPages: 10,
      },
    },
  );
  const full = takeInboundRecovery({
    recoverInbound: {
      since: "2026-11-27T22:00:00Z",
      until: "2026-12-04T22:00:00Z",
      maxPages: MAX_RECOVERY_PAGES,
    },
  }, now);
  assert.equal(full.recovery?.maxPages, 40);
  // Up to a minute ahead of the function's clock (skew) is accepted.
  assert.ok(
    takeInboundRecovery({
      recoverInbound: { since: "2026-12-04T21:00:00Z", until: "2026-12-04T22:00:30Z" },
    }, now).recovery,
  );
  for (
    const bad of [
      { since: "2026-11-27T21:59:59Z" }, // more than 7 days
      { since: "2026-12-04T21:00:00" }, // no offset
      { since: "2026-12-04T21:00:00Z", until: "2026-12-04T22:02:00Z" }, // future
      { since: "2026-12-04T21:00:00Z", until: "2026-12-04T21:00:00Z" }, // empty
      { since: "2026-12-04T21:00:00Z", maxPages: 0 },
      { since: "2026-12-04T21:00:00Z", maxPages: 1.5 },
      { since: "2026-12-04T21:00:00Z", page: 1 },
      [],
      "2026-12-04T21:00:00Z",
    ]
  ) {
    assert.throws(
      () => takeInboundRecovery({ recoverInbound: bad }, now),
      (e: { code?: string }) => e.code === "invalid_request",
      JSON.stringify(bad),
    );
  }
  const sent = { dateSent: new Date("2026-12-04T21:30:07Z") };
  assert.equal(receivedAt(sent, "opt_out").toISOString(), "2026-12-04T21:30:07.999Z");
  assert.equal(receivedAt(sent, "opt_in").toISOString(), "2026-12-04T21:30:07.000Z");
});
