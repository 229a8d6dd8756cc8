import assert from "node:assert/strict";
import fc from "fast-check";
import { formatInTimeZone } from "date-fns-tz";
import {
  checkFrequencyCap,
  FREQUENCY_CAP_LOOKBACK_MS,
  frequencyCapFor,
} from "@shared/compliance/frequency-cap.ts";
import {
  checkQuietHours,
  type QuietHoursRecipient,
  resolveCandidates,
} from "@shared/compliance/quiet-hours.ts";
import { STATE_RULES } from "@shared/compliance/state-rules.ts";
import { lookupAreaCode } from "@shared/compliance/phone.ts";

const NY = { timeZone: "America/New_York", state: "NY" };
const LA = { timeZone: "America/Los_Angeles", state: "CA" };
const PHX = { timeZone: "America/Phoenix", state: "AZ" };
const HNL = { timeZone: "Pacific/Honolulu", state: "HI" };
const FL = { timeZone: "America/New_York", state: "FL" };
const TX = { timeZone: "America/Chicago", state: "TX" };
const CT = { timeZone: "America/New_York", state: "CT" };
const OK = { timeZone: "America/Chicago", state: "OK" };
const MD = { timeZone: "America/New_York", state: "MD" };
const RI = { timeZone: "America/New_York", state: "RI" };
const MS = { timeZone: "America/Chicago", state: "MS" };
const PANHANDLE = { phone: "+18505550100" }; // FL, Eastern and Central
const NAVAJO = { phone: "+19285550100" }; // AZ, Phoenix and Denver clocks

type Row = [string, QuietHoursRecipient, string, boolean, string | null];

// [label, recipient, instant (UTC), allowed, reason]. 2026 DST: 8 March and 1 November.
const TABLE: Row[] = [
  ["NY Sat 07:59 EST", NY, "2026-03-07T12:59:00Z", false, "federal_quiet_hours"],
  ["NY Sat 08:00 EST", NY, "2026-03-07T13:00:00Z", true, null],
  ["NY Sat 20:59 EST", NY, "2026-03-08T01:59:00Z", true, null],
  ["NY Sat 21:00 EST", NY, "2026-03-08T02:00:00Z", false, "federal_quiet_hours"],
  ["NY DST Sun 07:59 EDT", NY, "2026-03-08T11:59:00Z", false, "federal_quiet_hours"],
  ["NY DST Sun 08:00 EDT", NY, "2026-03-08T12:00:00Z", true, null],
  ["NY DST Sun 08:00 EST would be", NY, "2026-03-08T13:00:00Z", true, null],
  ["NY DST Sun 20:59 EDT", NY, "2026-03-09T00:59:00Z", true, null],
  ["NY DST Sun 21:00 EDT", NY, "2026-03-09T01:00:00Z", false, "federal_quiet_hours"],
  ["NY Sat 07:59 EDT", NY, "2026-10-31T11:59:00Z", false, "federal_quiet_hours"],
  ["NY Sat 08:00 EDT", NY, "2026-10-31T12:00:00Z", true, null],
  ["NY fall-back Sun 07:59 EST", NY, "2026-11-01T12:59:00Z", false, "federal_quiet_hours"],
  ["NY fall-back Sun 08:00 EST", NY, "2026-11-01T13:00:00Z", true, null],
  ["NY fall-back Sun 20:59 EST", NY, "2026-11-02T01:59:00Z", true, null],
  ["NY fall-back Sun 21:00 EST", NY, "2026-11-02T02:00:00Z", false, "federal_quiet_hours"],
  ["LA DST Sun 07:59 PDT", LA, "2026-03-08T14:59:00Z", false, "federal_quiet_hours"],
  ["LA DST Sun 08:00 PDT", LA, "2026-03-08T15:00:00Z", true, null],
  ["LA DST Sun 20:59 PDT", LA, "2026-03-09T03:59:00Z", true, null],
  ["LA DST Sun 21:00 PDT", LA, "2026-03-09T04:00:00Z", false, "federal_quiet_hours"],
  ["LA fall-back Sun 08:00 PST", LA, "2026-11-01T16:00:00Z", true, null],
  ["LA fall-back Sun 07:59 PST", LA, "2026-11-01T15:59:00Z", false, "federal_quiet_hours"],
  ["Phoenix 07:59 MST (no DST)", PHX, "2026-03-08T14:59:00Z", false, "federal_quiet_hours"],
  ["Phoenix 08:00 MST (no DST)", PHX, "2026-03-08T15:00:00Z", true, null],
  ["Phoenix 08:00 MST in July", PHX, "2026-07-01T15:00:00Z", true, null],
  ["Phoenix 20:59 MST in July", PHX, "2026-07-02T03:59:00Z", true, null],
  ["Phoenix 21:00 MST in July", PHX, "2026-07-02T04:00:00Z", false, "federal_quiet_hours"],
  ["Honolulu 07:59 HST", HNL, "2026-11-01T17:59:00Z", false, "federal_quiet_hours"],
  ["Honolulu 08:00 HST", HNL, "2026-11-01T18:00:00Z", true, null],
  ["FL 19:59 EDT", FL, "2026-07-01T23:59:00Z", true, null],
  ["FL 20:00 EDT", FL, "2026-07-02T00:00:00Z", false, "state_quiet_hours"],
  ["FL DST Sun 19:59 EDT", FL, "2026-03-08T23:59:00Z", true, null],
  ["FL DST Sun 20:00 EDT", FL, "2026-03-09T00:00:00Z", false, "state_quiet_hours"],
  ["FL 07:59 EST", FL, "2026-11-02T12:59:00Z", false, "federal_quiet_hours"],
  ["OK 20:00 CDT", OK, "2026-07-02T01:00:00Z", false, "state_quiet_hours"],
  ["OK 19:59 CDT", OK, "2026-07-02T00:59:00Z", true, null],
  ["MD 20:00 EST", MD, "2026-11-03T01:00:00Z", false, "state_quiet_hours"],
  ["MD 19:59 EST", MD, "2026-11-03T00:59:00Z", true, null],
  ["TX Sat 08:59 CST", TX, "2026-03-07T14:59:00Z", false, "state_quiet_hours"],
  ["TX Sat 09:00 CST", TX, "2026-03-07T15:00:00Z", true, null],
  ["TX DST Sun 11:59 CDT", TX, "2026-03-08T16:59:00Z", false, "state_quiet_hours"],
  ["TX DST Sun 12:00 CDT", TX, "2026-03-08T17:00:00Z", true, null],
  ["TX fall-back Sun 11:59 CST", TX, "2026-11-01T17:59:00Z", false, "state_quiet_hours"],
  ["TX fall-back Sun 12:00 CST", TX, "2026-11-01T18:00:00Z", true, null],
  ["TX fall-back Sun 20:59 CST", TX, "2026-11-02T02:59:00Z", true, null],
  ["TX fall-back Sun 21:00 CST", TX, "2026-11-02T03:00:00Z", false, "federal_quiet_hours"],
  ["TX Mon 09:00 CST", TX, "2026-11-02T15:00:00Z", true, null],
  ["CT 08:59 EDT", CT, "2026-07-01T12:59:00Z", false, "state_quiet_hours"],
  ["CT 09:00 EDT", CT, "2026-07-01T13:00:00Z", true, null],
  ["CT 19:59 EDT", CT, "2026-07-01T23:59:00Z", true, null],
  ["CT 20:00 EDT", CT, "2026-07-02T00:00:00Z", false, "state_quiet_hours"],
  ["RI Sun noon", RI, "2026-03-08T16:00:00Z", false, "state_quiet_hours"],
  ["RI Sat 10:00 EST", RI, "2026-03-07T15:00:00Z", true, null],
  ["RI Sat 17:00 EST", RI, "2026-03-07T22:00:00Z", false, "state_quiet_hours"],
  ["RI Mon 17:59 EDT", RI, "2026-03-09T21:59:00Z", true, null],
  ["MS Sun noon", MS, "2026-11-01T18:00:00Z", false, "state_quiet_hours"],
  ["850 08:00 CDT = 09:00 EDT", PANHANDLE, "2026-07-01T13:00:00Z", true, null],
  ["850 07:59 CDT", PANHANDLE, "2026-07-01T12:59:00Z", false, "federal_quiet_hours"],
  ["850 19:59 EDT", PANHANDLE, "2026-07-01T23:59:00Z", true, null],
  ["850 20:00 EDT = 19:00 CDT", PANHANDLE, "2026-07-02T00:00:00Z", false, "state_quiet_hours"],
  ["928 08:00 MST = 09:00 MDT", NAVAJO, "2026-07-01T15:00:00Z", true, null],
  ["928 07:59 MST", NAVAJO, "2026-07-01T14:59:00Z", false, "federal_quiet_hours"],
  ["928 20:59 MDT", NAVAJO, "2026-07-02T02:59:00Z", true, null],
  ["928 21:00 MDT = 20:00 MST", NAVAJO, "2026-07-02T03:00:00Z", false, "federal_quiet_hours"],
  ["928 in January (same clock)", NAVAJO, "2026-01-15T03:59:00Z", true, null],
];

Deno.test("quiet hours: table of instants across zones, states and the 2026 DST changes", () => {
  for (const [label, recipient, instant, allowed, reason] of TABLE) {
    const r = checkQuietHours(recipient, new Date(instant));
    assert.equal(r.allowed, allowed, `${label}: allowed`);
    assert.equal(r.reason, reason, `${label}: reason`);
    if (allowed) {
      assert.equal(r.nextAllowedAt?.toISOString(), new Date(instant).toISOString(), label);
      assert.ok(r.windowEndsAt && r.windowEndsAt > new Date(instant), label);
    } else {
      assert.equal(r.windowEndsAt, null, label);
      assert.ok(r.nextAllowedAt && r.nextAllowedAt > new Date(instant), label);
    }
  }
});

Deno.test("quiet hours: next window across the DST changes", () => {
  // Saturday 22:00 EST before spring-forward → Sunday 08:00 EDT.
  let r = checkQuietHours(NY, new Date("2026-03-08T03:00:00Z"));
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-03-08T12:00:00.000Z");
  // Saturday 22:00 EDT before fall-back → Sunday 08:00 EST.
  r = checkQuietHours(NY, new Date("2026-11-01T02:00:00Z"));
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-11-01T13:00:00.000Z");
  // Window end on the spring-forward day is 21:00 EDT.
  r = checkQuietHours(NY, new Date("2026-03-08T15:00:00Z"));
  assert.equal(r.windowEndsAt?.toISOString(), "2026-03-09T01:00:00.000Z");
  // Texas Saturday night → Sunday noon.
  r = checkQuietHours(TX, new Date("2026-03-08T04:00:00Z"));
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-03-08T17:00:00.000Z");
  // Rhode Island Saturday evening → Monday 09:00 EDT.
  r = checkQuietHours(RI, new Date("2026-03-07T23:00:00Z"));
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-03-09T13:00:00.000Z");
});

Deno.test("quiet hours: an answer does not depend on what earlier checks left remembered", () => {
  // The window edges a check converts are remembered (by zone and wall time, at most 4,096).
  // A check converts two edges on each of twelve days, so three years of daily checks in four
  // zones convert about 8,800 distinct ones: the memo fills twice over.
  const cases: [QuietHoursRecipient, string][] = [
    [NY, "2026-03-08T03:00:00Z"],
    [NY, "2026-11-01T02:00:00Z"],
    [LA, "2026-03-08T15:00:00Z"],
    [HNL, "2026-11-01T02:00:00Z"],
  ];
  const answers = () => cases.map(([who, at]) => checkQuietHours(who, new Date(at)));
  const first = answers();
  for (let day = 0; day < 3 * 365; day++) {
    for (const who of [NY, LA, PHX, HNL]) {
      checkQuietHours(who, new Date(Date.UTC(2027, 0, 1) + day * 86_400_000));
    }
  }
  assert.deepEqual(answers(), first);
  // The same wall times in other zones are other instants.
  assert.notEqual(
    first[2].windowEndsAt?.getTime(),
    checkQuietHours(NY, new Date("2026-03-08T15:00:00Z")).windowEndsAt?.getTime(),
  );
});

Deno.test("quiet hours: business window", () => {
  const business = { start: "10:00", end: "18:00", days: [1, 2, 3, 4, 5] };
  let r = checkQuietHours(NY, new Date("2026-07-01T13:30:00Z"), { businessWindow: business });
  assert.equal(r.allowed, false);
  assert.equal(r.reason, "business_hours");
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-07-01T14:00:00.000Z");
  r = checkQuietHours(NY, new Date("2026-07-01T14:00:00Z"), { businessWindow: business });
  assert.equal(r.windowEndsAt?.toISOString(), "2026-07-01T22:00:00.000Z");
  // Saturday: closed until Monday 10:00.
  r = checkQuietHours(NY, new Date("2026-07-04T15:00:00Z"), { businessWindow: business });
  assert.equal(r.reason, "business_hours");
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-07-06T14:00:00.000Z");
  // A window in the business's own zone (Los Angeles 09:00–17:00) for a NY recipient.
  const own = { start: "09:00", end: "17:00", timeZone: "America/Los_Angeles" };
  r = checkQuietHours(NY, new Date("2026-07-01T15:00:00Z"), { businessWindow: own });
  assert.equal(r.allowed, false);
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-07-01T16:00:00.000Z");
  assert.throws(() =>
    checkQuietHours(NY, new Date(), { businessWindow: { start: "9", end: "5" } })
  );
  assert.throws(() =>
    checkQuietHours(NY, new Date(), {
      businessWindow: { start: "09:00", end: "17:00", timeZone: "Mars/Base" },
    })
  );
});

Deno.test("quiet hours: candidates from record, state, area code, fallback", () => {
  assert.deepEqual(resolveCandidates({ timeZone: "America/Denver", state: "co" }), {
    timeZones: ["America/Denver"],
    regions: ["CO"],
    uncertain: false,
    basis: "record",
  });
  const byState = resolveCandidates({ state: "TX", phone: "+12125550100" });
  assert.deepEqual(byState.timeZones.sort(), ["America/Chicago", "America/Denver"]);
  assert.deepEqual(byState.regions, ["TX"]);
  assert.equal(byState.uncertain, true);
  assert.equal(byState.basis, "state");
  const byArea = resolveCandidates({ phone: "+18505550100", timeZone: "Not/AZone" });
  assert.deepEqual(byArea.timeZones, ["America/New_York", "America/Chicago"]);
  assert.deepEqual(byArea.regions, ["FL"]);
  assert.equal(byArea.basis, "area_code");
  const unknown = resolveCandidates({ phone: "+18005550100" });
  assert.equal(unknown.timeZones.length, 7);
  assert.equal(unknown.basis, "fallback");
  assert.deepEqual(unknown.regions.sort(), [...new Set(STATE_RULES.map((r) => r.region))].sort());
  const foreign = resolveCandidates({ phone: "+442079460958", timeZone: "Europe/London" });
  assert.deepEqual(foreign, {
    timeZones: ["Europe/London"],
    regions: [],
    uncertain: false,
    basis: "record",
  });
  assert.equal(resolveCandidates({ phone: "+442079460958" }).basis, "country");
  // Nothing known: only the intersection of every US zone and every state rule is allowed.
  const r = checkQuietHours({}, new Date("2026-07-01T18:00:00Z"));
  assert.equal(r.allowed, false);
  assert.equal(r.nextAllowedAt?.toISOString(), "2026-07-01T19:00:00.000Z");
});

Deno.test("quiet hours: frequency caps (FL, OK, MD, OR: 3 per 24 h)", () => {
  assert.deepEqual(frequencyCapFor(FL), { max: 3, windowMs: 86_400_000, regions: ["FL"] });
  assert.equal(frequencyCapFor(TX), null);
  assert.deepEqual(frequencyCapFor({ phone: "+13055550100" })?.regions, ["FL"]);
  assert.deepEqual(frequencyCapFor({ phone: "+18005550100" })?.regions, ["FL", "OK", "MD", "OR"]);
  const cap = { max: 3, windowMs: 86_400_000 };
  const now = new Date("2026-07-01T18:00:00Z");
  const h = (hours: number) => new Date(now.getTime() - hours * 3_600_000);
  assert.deepEqual(checkFrequencyCap([h(1), h(2)], now, cap), {
    allowed: true,
    count: 2,
    nextAllowedAt: now,
  });
  const full = checkFrequencyCap([h(1), h(30), h(5), h(20)], now, cap);
  assert.equal(full.allowed, false);
  assert.equal(full.count, 3);
  assert.equal(
    full.nextAllowedAt.toISOString(),
    new Date(h(20).getTime() + 86_400_000).toISOString(),
  );
  // Exactly 24 h ago has left the window.
  assert.equal(checkFrequencyCap([h(24), h(1), h(2)], now, cap).allowed, true);
  // A future timestamp (clock skew) is ignored.
  assert.equal(checkFrequencyCap([h(-1), h(1), h(2)], now, cap).allowed, true);
});

// --- properties ---------------------------------------------------------------------------

const ZONES = [
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Phoenix",
  "America/Los_Angeles",
  "America/Anchorage",
  "Pacific/Honolulu",
  "America/Halifax",
  "America/St_Johns",
];
const MULTI_ZONE_CODES = [
  "850",
  "928",
  "208",
  "541",
  "620",
  "701",
  "605",
  "906",
  "812",
  "423",
  "931",
  "432",
  "250",
  "807",
  "867",
  "418",
  "306",
  "907",
  "270",
];
const AREA_CODES = ["212", "305", "512", "415", "602", "808", "907", "416", ...MULTI_ZONE_CODES];

const recipient: fc.Arbitrary<QuietHoursRecipient> = fc.record({
  timeZone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }),
  state: fc.option(fc.constantFrom("FL", "TX", "CT", "RI", "NY", "CA", "MS", "AZ"), {
    nil: undefined,
  }),
  phone: fc.option(fc.constantFrom(...AREA_CODES).map((a) => `+1${a}5550100`), { nil: undefined }),
});
// Instants across 2026, concentrated around the DST weekends.
const instant = fc.oneof(
  fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
  fc.integer({ min: Date.UTC(2026, 2, 6), max: Date.UTC(2026, 2, 10) }),
  fc.integer({ min: Date.UTC(2026, 9, 30), max: Date.UTC(2026, 10, 3) }),
).map((ms) => new Date(Math.floor(ms / 60_000) * 60_000));

function localMinutes(at: Date, zone: string): number {
  const [h, m] = formatInTimeZone(at, zone, "HH:mm").split(":").map(Number);
  return h * 60 + m;
}

Deno.test("quiet hours: property — never allowed outside 8:00–21:00 in any candidate zone", () => {
  fc.assert(
    fc.property(recipient, instant, (who, at) => {
      const r = checkQuietHours(who, at);
      if (!r.allowed) return;
      for (const zone of r.timeZones) {
        const m = localMinutes(at, zone);
        assert.ok(m >= 8 * 60 && m < 21 * 60, `${zone} ${formatInTimeZone(at, zone, "HH:mm")}`);
      }
    }),
    { numRuns: 600 },
  );
});

Deno.test("quiet hours: property — nextAllowedAt is allowed, the minute before it is not", () => {
  fc.assert(
    fc.property(recipient, instant, (who, at) => {
      const r = checkQuietHours(who, at);
      if (r.allowed) {
        const end = r.windowEndsAt!;
        assert.equal(checkQuietHours(who, new Date(end.getTime() - 60_000)).allowed, true);
        assert.equal(checkQuietHours(who, end).allowed, false);
        return;
      }
      assert.ok(r.nextAllowedAt, "a window opens within the week");
      assert.ok(r.nextAllowedAt > at);
      assert.equal(checkQuietHours(who, r.nextAllowedAt).allowed, true);
      assert.equal(
        checkQuietHours(who, new Date(r.nextAllowedAt.getTime() - 60_000)).allowed,
        false,
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("quiet hours: property — a multi-zone area code allows exactly the intersection", () => {
  fc.assert(
    fc.property(fc.constantFrom(...MULTI_ZONE_CODES), instant, (code, at) => {
      const info = lookupAreaCode(code)!;
      const combined = checkQuietHours({ phone: `+1${code}5550100` }, at).allowed;
      const each = info.timeZones.every((zone) =>
        (info.regions.length ? info.regions : [undefined]).every((state) =>
          checkQuietHours({ timeZone: zone, state, phone: `+1${code}5550100` }, at).allowed
        )
      );
      assert.equal(combined, each, `${code} at ${at.toISOString()}`);
    }),
    { numRuns: 500 },
  );
});

Deno.test("the frequency cap's look-back covers every state rule's window", () => {
  const windows = STATE_RULES.flatMap((r) => r.frequencyCap ? [r.frequencyCap.windowHours] : []);
  assert.ok(windows.length > 0);
  assert.equal(FREQUENCY_CAP_LOOKBACK_MS, Math.max(...windows) * 3_600_000);
});
