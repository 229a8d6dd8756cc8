import assert from "node:assert/strict";
import {
  decideRetry,
  planFailure,
  type RetrySendFacts,
  validityPeriodFor,
} from "../../supabase/functions/process-retries/plan.ts";
import { checkQuietHours } from "@shared/compliance/quiet-hours.ts";
import { RULE_SET_VERSION } from "@shared/compliance/receipt.ts";
import { classifyTwilioError } from "@shared/twilio/errors.ts";

const NY_FACTS: RetrySendFacts = {
  consentStatus: "opted_in",
  phone: "+12125550101",
  phoneStatus: "valid",
  timeZone: "America/New_York",
  state: "NY",
  logToPhone: "+12125550101",
  logTwilioSid: null,
  recentSends: [],
};
// Wednesday 2026-07-01, 12:00 EDT.
const NOON_NY = new Date("2026-07-01T16:00:00Z");

Deno.test("decideRetry: an opted-in customer inside the window is sent, with the window's end", () => {
  const d = decideRetry(NY_FACTS, NOON_NY);
  assert.deepEqual(d, {
    action: "send",
    to: "+12125550101",
    windowSeconds: 9 * 3600,
    receipt: {
      ruleSet: RULE_SET_VERSION,
      decidedAt: NOON_NY.toISOString(),
      recipient: {
        basis: "record",
        timeZones: ["America/New_York"],
        regions: ["NY"],
        localTimes: { "America/New_York": "2026-07-01 12:00" },
      },
      windowEndsAt: "2026-07-02T01:00:00.000Z",
      frequencyCap: null,
    },
  });
});

Deno.test("decideRetry: a sid on the log means it already went out: complete, never resend", () => {
  const d = decideRetry(
    { ...NY_FACTS, logTwilioSid: "SMabc", consentStatus: "opted_out" },
    NOON_NY,
  );
  assert.deepEqual(d, { action: "complete", reason: "already_sent", sid: "SMabc" });
});

Deno.test("decideRetry: a business without a help contact → cancel (help_contact_missing)", () => {
  assert.deepEqual(decideRetry({ ...NY_FACTS, helpContactMissing: true }, NOON_NY), {
    action: "cancel",
    reason: "help_contact_missing",
  });
  // Even outside the window: it is cancelled, not held for later.
  assert.deepEqual(
    decideRetry({ ...NY_FACTS, helpContactMissing: true }, new Date("2026-07-01T06:00:00Z")),
    { action: "cancel", reason: "help_contact_missing" },
  );
  // Already sent stays already sent.
  assert.equal(
    decideRetry({ ...NY_FACTS, helpContactMissing: true, logTwilioSid: "SMabc" }, NOON_NY).action,
    "complete",
  );
  assert.equal(decideRetry({ ...NY_FACTS, helpContactMissing: false }, NOON_NY).action, "send");
});

Deno.test("decideRetry: consent gone or phone unusable → cancel", () => {
  const cases: [Partial<RetrySendFacts>, string][] = [
    [{ consentStatus: "opted_out" }, "opted_out"],
    [{ consentStatus: "unknown" }, "no_consent"],
    [{ phone: null }, "invalid_phone"],
    [{ phoneStatus: "invalid" }, "invalid_phone"],
    [{ phoneStatus: "landline" }, "invalid_phone"],
    [{ phone: "+12125550199" }, "phone_changed"],
  ];
  for (const [patch, reason] of cases) {
    assert.deepEqual(decideRetry({ ...NY_FACTS, ...patch }, NOON_NY), { action: "cancel", reason });
  }
  // A log from before to_phone existed is sent to the customer's number.
  assert.equal(decideRetry({ ...NY_FACTS, logToPhone: null }, NOON_NY).action, "send");
});

Deno.test("decideRetry: a country no longer permitted → cancel, re-checked without libphonenumber", () => {
  const us = ["US", "PR", "VI", "GU", "AS", "MP"];
  const london = {
    ...NY_FACTS,
    phone: "+447400123456",
    logToPhone: "+447400123456",
    timeZone: null,
    state: null,
  };
  assert.deepEqual(decideRetry({ ...london, allowedCountries: us }, NOON_NY), {
    action: "cancel",
    reason: "country_not_permitted",
  });
  // Still permitted: sent now (17:00 BST), or at night waits for 08:00 London time.
  assert.equal(decideRetry({ ...london, allowedCountries: ["GB"] }, NOON_NY).action, "send");
  assert.deepEqual(
    decideRetry({ ...london, allowedCountries: ["GB"] }, new Date("2026-07-01T01:30:00Z")),
    { action: "reschedule", reason: "quiet_hours", at: new Date("2026-07-01T07:00:00Z") },
  );
  // +1 by area code: Toronto is Canada, San Juan a territory of its own code.
  const toronto = { ...NY_FACTS, phone: "+14162345678", logToPhone: "+14162345678" };
  assert.deepEqual(decideRetry({ ...toronto, allowedCountries: us }, NOON_NY), {
    action: "cancel",
    reason: "country_not_permitted",
  });
  const sanJuan = { ...NY_FACTS, phone: "+17872345678", logToPhone: "+17872345678" };
  assert.equal(decideRetry({ ...sanJuan, allowedCountries: us }, NOON_NY).action, "send");
  assert.deepEqual(decideRetry({ ...sanJuan, allowedCountries: ["US"] }, NOON_NY), {
    action: "cancel",
    reason: "country_not_permitted",
  });
  // A number the table cannot place (Nigeria): cancelled when every permitted country is one it
  // could have placed; let through (send-sms checked it with libphonenumber) otherwise.
  const lagos = {
    ...NY_FACTS,
    phone: "+2348012345678",
    logToPhone: "+2348012345678",
    timeZone: "Africa/Lagos",
    state: null,
  };
  assert.equal(decideRetry({ ...lagos, allowedCountries: us }, NOON_NY).action, "cancel");
  assert.equal(decideRetry({ ...lagos, allowedCountries: ["NG"] }, NOON_NY).action, "send");
});

Deno.test("decideRetry: inside quiet hours → rescheduled to the next window (8:00 local)", () => {
  const night = new Date("2026-07-01T06:30:00Z"); // 02:30 EDT
  const d = decideRetry(NY_FACTS, night);
  assert.deepEqual(d, {
    action: "reschedule",
    reason: "quiet_hours",
    at: new Date("2026-07-01T12:00:00Z"),
  });
  assert.deepEqual(
    d.action === "reschedule" ? d.at : null,
    checkQuietHours({ timeZone: "America/New_York", state: "NY" }, night).nextAllowedAt,
  );
});

Deno.test("decideRetry: over Florida's cap → when the oldest send leaves the 24 h window", () => {
  const fl = { ...NY_FACTS, state: "FL" };
  const sends = [
    new Date("2026-07-01T13:00:00Z"),
    new Date("2026-07-01T14:00:00Z"),
    new Date("2026-07-01T15:00:00Z"),
  ];
  assert.equal(decideRetry({ ...fl, recentSends: sends.slice(1) }, NOON_NY).action, "send");
  assert.deepEqual(decideRetry({ ...fl, recentSends: sends }, NOON_NY), {
    action: "reschedule",
    reason: "frequency_cap",
    at: new Date("2026-07-02T13:00:00Z"),
  });
});

Deno.test("decideRetry: cap frees up at night → the first instant both allow", () => {
  const fl = { ...NY_FACTS, state: "FL" };
  // Now 19:00 EDT; the oldest of three sends frees the cap at 20:10 EDT, after Florida's 20:00.
  const sends = [
    new Date("2026-07-01T00:10:00Z"),
    new Date("2026-07-01T12:00:00Z"),
    new Date("2026-07-01T13:00:00Z"),
  ];
  const d = decideRetry({ ...fl, recentSends: sends }, new Date("2026-07-01T23:00:00Z"));
  // So: next morning, 8:00 EDT.
  assert.equal(d.action, "reschedule");
  assert.deepEqual(d.action === "reschedule" ? d.at : null, new Date("2026-07-02T12:00:00Z"));
});

Deno.test("validityPeriodFor: the configured period, never past the window's end, at least 1 s", () => {
  assert.equal(validityPeriodFor(null, 3600), 3600);
  assert.equal(validityPeriodFor(600, 3600), 600);
  assert.equal(validityPeriodFor(0, 3600), 1);
  assert.equal(validityPeriodFor(99_999, 99_999), 36_000);
});

Deno.test("planFailure: retryable errors back off with jitter until attempts run out", () => {
  const now = new Date("2026-07-01T16:00:00Z");
  const c503 = classifyTwilioError({ httpStatus: 503 });
  const first = planFailure(c503, { attempts: 1, maxAttempts: 5, at: now }, { random: () => 0 });
  assert.equal(first.permanent, false);
  assert.equal(first.retryAt?.getTime(), now.getTime() + 15_000);
  const third = planFailure(c503, { attempts: 3, maxAttempts: 5, at: now }, { random: () => 1 });
  assert.equal(third.retryAt?.getTime(), now.getTime() + 120_000);
  const last = planFailure(c503, { attempts: 5, maxAttempts: 5, at: now });
  assert.deepEqual([last.permanent, last.retryAt, last.applyEffect], [true, null, false]);
  assert.match(last.error, /HTTP 503/);
  // The row's own limit applies when lower than the error's.
  assert.equal(planFailure(c503, { attempts: 2, maxAttempts: 2, at: now }).permanent, true);
  // 30003 allows 3 attempts whatever the row says.
  const c30003 = classifyTwilioError({ code: 30003 });
  assert.equal(planFailure(c30003, { attempts: 3, maxAttempts: 5, at: now }).permanent, true);
});

Deno.test("planFailure: permanent errors end the row with their effect; timeouts stay uncertain", () => {
  const now = new Date();
  const optOut = planFailure(classifyTwilioError({ code: 21610, httpStatus: 400 }), {
    attempts: 1,
    maxAttempts: 5,
    at: now,
  });
  assert.deepEqual(
    [optOut.permanent, optOut.applyEffect, optOut.errorCode, optOut.outcomeUncertain],
    [true, true, 21610, false],
  );
  const timeout = planFailure(classifyTwilioError({ timeout: true }), {
    attempts: 1,
    maxAttempts: 5,
    at: now,
  });
  assert.deepEqual([timeout.permanent, timeout.outcomeUncertain], [false, true]);
  assert.ok(!/\+1|body/i.test(timeout.error));
});
