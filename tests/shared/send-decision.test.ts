import assert from "node:assert/strict";
import { isSmsError } from "@shared/contract/errors.ts";
import { decideSend, type SendCustomer } from "@shared/compliance/send-decision.ts";
import { RULE_SET_VERSION } from "@shared/compliance/receipt.ts";

const ny: SendCustomer = {
  phone: "+12125550101",
  phoneStatus: "valid",
  consentStatus: "opted_in",
  timeZone: "America/New_York",
  state: "NY",
};
// 2026-06-10 is a Wednesday; New York is UTC-4 in June.
const at = (hhmm: string) => new Date(`2026-06-10T${hhmm}:00-04:00`);

Deno.test("refusals come before any timing rule", () => {
  const cases: [Partial<SendCustomer>, string][] = [
    [{ consentStatus: "opted_out" }, "opted_out"],
    [{ consentStatus: "unknown" }, "no_consent"],
    [{ phone: null }, "invalid_phone"],
    [{ phone: "2125550101" }, "invalid_phone"],
    [{ phoneStatus: "invalid" }, "invalid_phone"],
    [{ phoneStatus: "landline" }, "invalid_phone"],
  ];
  for (const [change, code] of cases) {
    assert.throws(
      () => decideSend({ ...ny, ...change }, { now: at("12:00") }),
      (e) => isSmsError(e) && e.code === code,
      code,
    );
  }
});

Deno.test("inside the window: send, valid no longer than what is left of it", () => {
  const noon = decideSend(ny, { now: at("12:00") });
  assert.deepEqual(noon, {
    kind: "send",
    validityPeriod: 3600,
    // Why it may go: New York's zone from the record, noon there, the federal window's 21:00.
    receipt: {
      ruleSet: RULE_SET_VERSION,
      decidedAt: "2026-06-10T16:00:00.000Z",
      recipient: {
        basis: "record",
        timeZones: ["America/New_York"],
        regions: ["NY"],
        localTimes: { "America/New_York": "2026-06-10 12:00" },
      },
      windowEndsAt: "2026-06-11T01:00:00.000Z",
      frequencyCap: null,
    },
  });
  const late = decideSend(ny, { now: at("20:30") });
  assert.equal(late.kind === "send" && late.validityPeriod, 1800);
});

Deno.test("quiet hours: deferred to the next morning", () => {
  assert.deepEqual(decideSend(ny, { now: at("21:00") }), {
    kind: "defer",
    reason: "quiet_hours",
    scheduledFor: new Date("2026-06-11T08:00:00-04:00"),
  });
  assert.deepEqual(decideSend(ny, { now: at("07:59") }), {
    kind: "defer",
    reason: "quiet_hours",
    scheduledFor: at("08:00"),
  });
});

Deno.test("frequency cap (FL: 3 per 24 h) defers to the next slot, outside quiet hours", () => {
  const fl: SendCustomer = { ...ny, phone: "+13055550108", state: "FL" };
  const now = at("12:00");
  const sends = [at("09:00"), at("10:00"), at("11:00")].map((d) =>
    new Date(d.getTime() - 86_400_000 + 3_600_000)
  );
  // Sends at 10:00, 11:00 and 12:00 yesterday have all left the rolling 24 h window.
  assert.equal(decideSend(fl, { now, recentSends: sends }).kind, "send");
  const today = [at("09:00"), at("10:00"), at("11:00")];
  assert.deepEqual(decideSend(fl, { now, recentSends: today }), {
    kind: "defer",
    reason: "frequency_cap",
    scheduledFor: new Date("2026-06-11T09:00:00-04:00"),
  });
  // Sends late yesterday: the next slot (22:00 tonight) is in FL's quiet hours (8–20).
  const evening = [at("19:00"), at("19:30"), at("19:45")].map((d) =>
    new Date(d.getTime() - 86_400_000 + 3 * 3_600_000)
  );
  const deferred = decideSend(fl, { now: at("19:50"), recentSends: evening });
  assert.deepEqual(deferred, {
    kind: "defer",
    reason: "frequency_cap",
    scheduledFor: new Date("2026-06-11T08:00:00-04:00"),
  });
});

Deno.test("country permissions: refused as country_not_permitted (422), by libphonenumber's country", () => {
  const us = ["US", "PR", "VI", "GU", "AS", "MP"];
  const london = {
    ...ny,
    phone: "+447400123456",
    state: null,
    timeZone: null,
    number: { e164: "+447400123456", country: "GB", type: "mobile" as const },
    allowedCountries: us,
  };
  assert.throws(
    () => decideSend(london, { now: at("12:00") }),
    (e) => isSmsError(e) && e.code === "country_not_permitted" && e.status === 422,
  );
  // Permitted: a London number at 12:00 New York time (17:00 BST) goes now.
  assert.equal(
    decideSend({ ...london, allowedCountries: [...us, "GB"] }, { now: at("12:00") }).kind,
    "send",
  );
  // ... and at 03:00 BST (22:00 in New York) it waits for 08:00 London time, not a US zone.
  const night = decideSend({ ...london, allowedCountries: ["GB"] }, { now: at("22:00") });
  assert.deepEqual(night, {
    kind: "defer",
    reason: "quiet_hours",
    scheduledFor: new Date("2026-06-11T07:00:00Z"),
  });
  // A non-geographic number (+800) has no country: no permission covers it.
  assert.throws(
    () =>
      decideSend({
        ...london,
        phone: "+80012345678",
        number: { e164: "+80012345678", country: null, type: "uan" },
        allowedCountries: ["GB"],
      }, { now: at("12:00") }),
    (e) => isSmsError(e) && e.code === "country_not_permitted",
  );
  // Territories by their own code; without allowedCountries nothing is checked.
  const sanJuan = {
    ...ny,
    phone: "+17872345678",
    number: { e164: "+17872345678", country: "PR", type: "mobile" as const },
  };
  assert.equal(decideSend({ ...sanJuan, allowedCountries: us }, { now: at("12:00") }).kind, "send");
  assert.equal(
    decideSend({ ...london, allowedCountries: undefined }, { now: at("12:00") }).kind,
    "send",
  );
});

Deno.test("the receipt names the cap that applied and the sends it counted", () => {
  const miami: SendCustomer = { ...ny, phone: "+13055550100", timeZone: null, state: "FL" };
  const d = decideSend(miami, { now: at("12:00"), recentSends: [at("09:00"), at("10:00")] });
  assert.ok(d.kind === "send");
  assert.equal(d.receipt.recipient.basis, "state");
  assert.deepEqual(d.receipt.recipient.regions, ["FL"]);
  assert.deepEqual(d.receipt.frequencyCap, {
    max: 3,
    windowHours: 24,
    regions: ["FL"],
    counted: 2,
  });
  // Florida closes at 20:00 local, the window's end.
  assert.equal(d.receipt.windowEndsAt, "2026-06-11T00:00:00.000Z");
});
