/**
 * Refreshing statuses no callback reported, without a stack: the settings and their defaults, how
 * many lookups a run may make, what Twilio's answer means, and reading one message the way
 * twilio-node does. Which logs are due and in what order is the database's (pgTAP:
 * send_logs_lookup.test.sql); the whole path runs in process-retries-refresh-e2e.test.ts.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_LOOKUP_MAX_AGE_H,
  DEFAULT_LOOKUP_MAX_PER_RUN,
  DEFAULT_LOOKUP_QUEUED_AFTER_S,
  DEFAULT_LOOKUP_RECHECK_S,
  DEFAULT_LOOKUP_SENT_AFTER_S,
  LOOKUP_CLAIM_SIZE,
  lookupOutcome,
  nextLookupClaim,
  refreshConfigFromEnv,
} from "../../supabase/functions/process-retries/refresh.ts";
import { createTwilioClient, loadTwilioConfig } from "@shared/twilio/client.ts";
import { fetchMessage, type FetchMessageResult } from "@shared/twilio/messages.ts";

const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
const ENV = {
  TWILIO_ACCOUNT_SID: ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: "fedcba9876543210".repeat(2),
  TWILIO_PHONE_NUMBER: "+15005550006",
};
const SID = "SM" + "ab".repeat(16);

Deno.test("refreshConfigFromEnv: documented defaults, values, and loud failure on nonsense", () => {
  assert.deepEqual(refreshConfigFromEnv({}), {
    maxPerRun: 50,
    queuedAfterS: 600,
    sentAfterS: 3600,
    recheckS: 3600,
    maxAgeS: 72 * 3600,
  });
  assert.deepEqual(
    [
      DEFAULT_LOOKUP_MAX_PER_RUN,
      DEFAULT_LOOKUP_QUEUED_AFTER_S,
      DEFAULT_LOOKUP_SENT_AFTER_S,
      DEFAULT_LOOKUP_RECHECK_S,
      DEFAULT_LOOKUP_MAX_AGE_H,
    ],
    [50, 600, 3600, 3600, 72],
  );
  assert.deepEqual(
    refreshConfigFromEnv({
      PROCESS_RETRIES_LOOKUP_MAX: "0",
      PROCESS_RETRIES_LOOKUP_QUEUED_S: "120",
      PROCESS_RETRIES_LOOKUP_SENT_S: " 7200 ",
      PROCESS_RETRIES_LOOKUP_RECHECK_S: "900",
      PROCESS_RETRIES_LOOKUP_MAX_AGE_H: "24",
    }),
    { maxPerRun: 0, queuedAfterS: 120, sentAfterS: 7200, recheckS: 900, maxAgeS: 86_400 },
  );
  for (
    const [name, value] of [
      ["PROCESS_RETRIES_LOOKUP_MAX", "-1"],
      ["PROCESS_RETRIES_LOOKUP_MAX", "501"],
      ["PROCESS_RETRIES_LOOKUP_MAX", "2.5"],
      ["PROCESS_RETRIES_LOOKUP_QUEUED_S", "59"],
      ["PROCESS_RETRIES_LOOKUP_SENT_S", "soon"],
      ["PROCESS_RETRIES_LOOKUP_RECHECK_S", "0"],
      ["PROCESS_RETRIES_LOOKUP_MAX_AGE_H", "0"],
    ]
  ) {
    assert.throws(() => refreshConfigFromEnv({ [name]: value }), new RegExp(name), name);
  }
});

Deno.test("nextLookupClaim: bounded by the run's lookups, its CPU plan and its time", () => {
  const config = { maxPerRun: 25 };
  const claim = (done: number, cpuRowsLeft: number, canStart = true) =>
    nextLookupClaim({ config, done, cpuRowsLeft, canStart });
  assert.equal(claim(0, 1000), LOOKUP_CLAIM_SIZE, "a few at a time");
  assert.equal(claim(20, 1000), 5, "never past the run's lookups");
  assert.equal(claim(25, 1000), 0);
  assert.equal(claim(0, 3), 3, "never past what the CPU plan still pays for");
  assert.equal(claim(0, 0), 0);
  assert.equal(claim(0, 1000, false), 0, "nothing once the run may not start work");
  assert.equal(
    nextLookupClaim({ config: { maxPerRun: 0 }, done: 0, cpuRowsLeft: 9, canStart: true }),
    0,
    "0 turns it off",
  );
});

function found(patch: Partial<Extract<FetchMessageResult, { found: true }>["message"]> = {}) {
  return {
    found: true as const,
    message: {
      sid: SID,
      status: "delivered",
      errorCode: null,
      errorMessage: null,
      numSegments: 1,
      price: null,
      priceUnit: "USD",
      dateUpdated: new Date("2026-12-04T12:00:00Z"),
      ...patch,
    },
  };
}

Deno.test("lookupOutcome: Twilio's status, its error only when the message failed, or not found", () => {
  assert.deepEqual(lookupOutcome(found()), {
    kind: "status",
    status: "delivered",
    errorCode: null,
    errorMessage: null,
    payload: { status: "delivered", num_segments: "1", date_updated: "2026-12-04T12:00:00.000Z" },
  });
  const undelivered = lookupOutcome(
    found({
      status: "undelivered",
      errorCode: 30003,
      errorMessage: "Unreachable destination handset",
      price: "-0.00790",
    }),
  );
  assert.equal(undelivered.kind, "status");
  if (undelivered.kind !== "status") return;
  assert.deepEqual(
    [undelivered.status, undelivered.errorCode, undelivered.errorMessage],
    ["undelivered", 30003, "Unreachable destination handset"],
  );
  assert.equal(undelivered.payload.price, "-0.00790");
  assert.equal(undelivered.payload.price_unit, "USD");
  assert.equal(undelivered.payload.error_code, "30003");
  // A code on a message still on its way is not a failure to act on.
  const sent = lookupOutcome(found({ status: "sent", errorCode: 30008 }));
  assert.ok(sent.kind === "status" && sent.errorCode === null && sent.errorMessage === null);
  assert.deepEqual(lookupOutcome({ found: false }), {
    kind: "not_found",
    payload: { http_status: "404", code: "20404" },
  });
});

/** A client whose requests `answer` answers; the URLs asked are kept. */
function clientAnswering(answer: (url: string) => Response | Promise<Response>) {
  const seen: { url: string; method: string; auth: string | null; signal: boolean }[] = [];
  const client = createTwilioClient({ ...loadTwilioConfig(ENV)!, apiBaseUrl: "http://sb" }, {
    fetch: (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      seen.push({
        url,
        method: init?.method ?? "GET",
        auth: new Headers(init?.headers).get("authorization"),
        signal: init?.signal instanceof AbortSignal,
      });
      return Promise.resolve(answer(url));
    },
  });
  return { client, seen };
}

Deno.test("fetchMessage: one message as twilio-node reads it; found: false only on Twilio's 20404", async () => {
  const resource = {
    sid: SID,
    account_sid: ACCOUNT_SID,
    status: "undelivered",
    error_code: 30003,
    error_message: "Unreachable destination handset",
    num_segments: "2",
    price: "-0.01580",
    price_unit: "USD",
    date_updated: "Fri, 04 Dec 2026 12:00:00 +0000",
  };
  const ok = clientAnswering(() => new Response(JSON.stringify(resource), { status: 200 }));
  assert.deepEqual(await fetchMessage(ok.client, SID), {
    found: true,
    message: {
      sid: SID,
      status: "undelivered",
      errorCode: 30003,
      errorMessage: "Unreachable destination handset",
      numSegments: 2,
      price: "-0.01580",
      priceUnit: "USD",
      dateUpdated: new Date("2026-12-04T12:00:00Z"),
    },
  });
  assert.deepEqual(ok.seen.map((s) => [s.method, s.url]), [
    ["GET", `http://sb/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${SID}.json`],
  ]);
  assert.ok(ok.seen[0].auth?.startsWith("Basic "));

  const gone = clientAnswering(() =>
    new Response(JSON.stringify({ code: 20404, message: "not found", status: 404 }), {
      status: 404,
    })
  );
  assert.deepEqual(await fetchMessage(gone.client, SID), { found: false });

  // Anything else says nothing about the message: an error, never "not found".
  for (
    const answer of [
      () => new Response("<html>not here</html>", { status: 404 }),
      () => new Response(JSON.stringify({ code: 20500, status: 500 }), { status: 500 }),
      () => new Response(JSON.stringify({ code: 20429, status: 429 }), { status: 429 }),
      () => new Response("{}", { status: 200 }),
      () => new Response(JSON.stringify({ ...resource, sid: "SM" + "cd".repeat(16) })),
      () => Promise.reject(new TypeError("connection reset")),
    ]
  ) {
    const c = clientAnswering(answer);
    await assert.rejects(fetchMessage(c.client, SID));
  }
  await assert.rejects(fetchMessage(ok.client, "../Messages"), /not a Twilio message sid/);
});
