import assert from "node:assert/strict";
import { checkQuietHours, resolveCandidates } from "@shared/compliance/quiet-hours.ts";
import { frequencyCapFor } from "@shared/compliance/frequency-cap.ts";
import { STATE_RULES } from "@shared/compliance/state-rules.ts";
import { countryOfCallingCode } from "@shared/compliance/countries.ts";
import { sendWindow } from "@shared/compliance/send-decision.ts";

const AL = { timeZone: "America/Chicago", state: "AL" };
const RI = { timeZone: "America/New_York", state: "RI" };
const MA = { timeZone: "America/New_York", state: "MA" };
const OR = { timeZone: "America/Los_Angeles", state: "OR" };

const at = (iso: string) => new Date(iso);
const next = (r: ReturnType<typeof checkQuietHours>) => r.nextAllowedAt?.toISOString();

Deno.test("rules: Alabama 8:00–20:00, no Sunday, no state holiday (r. 770-X-5-.17)", () => {
  // Wednesday 2026-07-01, 19:59 and 20:00 CDT.
  assert.equal(checkQuietHours(AL, at("2026-07-02T00:59:00Z")).allowed, true);
  const late = checkQuietHours(AL, at("2026-07-02T01:00:00Z"));
  assert.equal(late.reason, "state_quiet_hours");
  assert.equal(next(late), "2026-07-02T13:00:00.000Z");
  // Sunday 2026-07-05 noon: closed, and so is Monday: July 4 falls on a Saturday, and the
  // strict reading closes the Friday before and the Monday after. Tuesday 8:00 CDT.
  const sunday = checkQuietHours(AL, at("2026-07-05T17:00:00Z"));
  assert.equal(sunday.allowed, false);
  assert.equal(sunday.reason, "state_quiet_hours");
  assert.equal(next(sunday), "2026-07-07T13:00:00.000Z");
  // Jefferson Davis' Birthday, Monday 2026-06-01, 10:00 CDT: closed all day; Tuesday 8:00.
  const holiday = checkQuietHours(AL, at("2026-06-01T15:00:00Z"));
  assert.equal(holiday.allowed, false);
  assert.equal(holiday.reason, "state_quiet_hours");
  assert.equal(next(holiday), "2026-06-02T13:00:00.000Z");
  // The same instant in Georgia (no such rule) is open.
  assert.equal(checkQuietHours({ ...AL, state: "GA" }, at("2026-06-01T15:00:00Z")).allowed, true);
});

Deno.test("rules: Rhode Island closes on state and federal holidays (5-61-2(2), 25-1-1)", () => {
  // Victory Day, Monday 2026-08-10, 10:00 EDT: closed; Tuesday 9:00 EDT.
  const victory = checkQuietHours(RI, at("2026-08-10T14:00:00Z"));
  assert.equal(victory.allowed, false);
  assert.equal(next(victory), "2026-08-11T13:00:00.000Z");
  // The day before Victory Day is a Sunday (closed anyway); the Saturday before is open 10–17.
  assert.equal(checkQuietHours(RI, at("2026-08-08T14:00:00Z")).allowed, true);
  // Christmas 2027 is a Saturday: Friday 24 (federal observed), Saturday, Sunday, Monday 27
  // (state observed) are closed; Tuesday 28 at 9:00 EST opens.
  const christmas = checkQuietHours(RI, at("2027-12-23T23:30:00Z")); // Thu 18:30 EST
  assert.equal(christmas.allowed, false);
  assert.equal(next(christmas), "2027-12-28T14:00:00.000Z");
});

Deno.test("rules: Massachusetts 8:00–20:00 (201 CMR 12.02(2))", () => {
  assert.equal(checkQuietHours(MA, at("2026-07-01T23:59:00Z")).allowed, true); // 19:59 EDT
  const r = checkQuietHours(MA, at("2026-07-02T00:00:00Z")); // 20:00 EDT
  assert.equal(r.reason, "state_quiet_hours");
  assert.equal(next(r), "2026-07-02T12:00:00.000Z");
});

Deno.test("rules: Oregon 8:00–20:00 and at most 3 per 24 h (HB 3865, from 2026-01-01)", () => {
  assert.equal(checkQuietHours(OR, at("2026-07-02T02:59:00Z")).allowed, true); // 19:59 PDT
  assert.equal(checkQuietHours(OR, at("2026-07-02T03:00:00Z")).reason, "state_quiet_hours");
  assert.deepEqual(frequencyCapFor(OR), { max: 3, windowMs: 86_400_000, regions: ["OR"] });
  assert.deepEqual(frequencyCapFor({ phone: "+15035550100" })?.regions, ["OR"]);
  const now = at("2026-07-01T18:00:00Z");
  const recent = [1, 2, 3].map((h) => new Date(now.getTime() - h * 3_600_000));
  const w = sendWindow(OR, now, { recentSends: recent });
  assert.equal(w.kind, "later");
  assert.equal(w.kind === "later" && w.reason, "frequency_cap");
});

Deno.test("rules: citations fixed, and each rule says when it was checked", () => {
  const source = (region: string) => STATE_RULES.find((r) => r.region === region)!.source;
  assert.match(source("MS"), /77-3-723/);
  assert.doesNotMatch(source("MS"), /77-3-725/);
  assert.match(source("WA"), /19\.158\.040\(2\)/);
  assert.match(source("FL"), /501\.616\(6\)\(a\)/);
  assert.match(source("AL"), /770-X-5-\.17/);
  assert.match(source("MA"), /201 CMR 12\.02/);
  assert.match(source("OR"), /HB 3865/);
  assert.match(source("RI"), /5-61-2/);
  // Maryland's hours and cap are in § 14-4502(c), Oregon's in ORS 646.563(1)(b) (646.569 is
  // the do-not-call list), Connecticut's in § 42-288a(c); Texas's hours are ch. 301's, which
  // SB 140 did not amend.
  assert.match(source("MD"), /14-4502\(c\)/);
  assert.doesNotMatch(source("MD"), /14-4503/);
  assert.match(source("OR"), /646\.563\(1\)\(b\)/);
  assert.doesNotMatch(source("OR"), /646\.569/);
  assert.match(source("CT"), /42-288a\(c\)/);
  assert.match(source("TX"), /301\.051\(b\)\(2\)/);
  assert.match(source("AL"), /770-X-5-\.17\(1\)\(b\)/);
  for (const rule of STATE_RULES) {
    assert.ok(rule.dateChecked === null || /^\d{4}-\d{2}-\d{2}$/.test(rule.dateChecked));
    assert.equal(rule.dateChecked === null, rule.checkedAgainst === undefined, rule.region);
  }
  // Every rule has been checked against something; those on a secondary source only are the
  // ones docs/compliance.md says could not be read in the original.
  assert.deepEqual(STATE_RULES.filter((r) => r.dateChecked === null).map((r) => r.region), []);
  assert.deepEqual(
    STATE_RULES.filter((r) => r.checkedAgainst === "secondary").map((r) => r.region).sort(),
    ["CT", "MD", "OK", "OR", "TX"],
  );
  assert.deepEqual(
    STATE_RULES.filter((r) => r.holidays).map((r) => r.region).sort(),
    ["AL", "RI"],
  );
});

Deno.test("location: a zone without a state makes only the states using that zone candidates", () => {
  // Honolulu at 8:00 HST: no state with a rule uses Hawaii's clock (Connecticut's 9:00 is not
  // applied there).
  const hnl = resolveCandidates({ timeZone: "Pacific/Honolulu" });
  assert.deepEqual(hnl.regions, []);
  assert.equal(
    checkQuietHours({ timeZone: "Pacific/Honolulu" }, at("2026-07-01T18:00:00Z")).allowed,
    true,
  );
  // New York's clock: the Eastern states with rules, not Texas, Oklahoma, Oregon…
  const ny = resolveCandidates({ timeZone: "America/New_York" });
  for (const s of ["CT", "FL", "MD", "RI", "MA"]) assert.ok(ny.regions.includes(s), s);
  for (const s of ["TX", "OK", "OR", "WA", "MS", "AL"]) assert.ok(!ny.regions.includes(s), s);
  // A zone alias keeps the same clock: US/Pacific is Los Angeles's.
  const pacific = resolveCandidates({ timeZone: "US/Pacific", phone: "+18005550100" });
  assert.deepEqual(pacific.regions.sort(), ["OR", "WA"]);
  // Chicago's clock: Florida's panhandle, Texas, Oklahoma, Mississippi, Alabama.
  const chicago = resolveCandidates({ timeZone: "America/Chicago" });
  for (const s of ["AL", "FL", "MS", "OK", "TX"]) assert.ok(chicago.regions.includes(s), s);
  assert.ok(!chicago.regions.includes("CT"));
});

Deno.test("location: a non-US number uses its country's time, never a US fallback", () => {
  // London, no zone on record, 02:00 BST: deferred to 08:00 London time.
  const london = checkQuietHours({ phone: "+447400123456" }, at("2026-07-01T01:00:00Z"));
  assert.deepEqual(london.timeZones, ["Europe/London"]);
  assert.deepEqual(london.regions, []);
  assert.equal(london.allowed, false);
  assert.equal(next(london), "2026-07-01T07:00:00.000Z");
  // In winter 08:00 GMT.
  const winter = checkQuietHours({ phone: "+447400123456" }, at("2026-12-04T03:00:00Z"));
  assert.equal(next(winter), "2026-12-04T08:00:00.000Z");
  // Tokyo at 23:00 JST, which is 10:00 in New York: not allowed.
  const tokyo = checkQuietHours({ phone: "+81312345678" }, at("2026-07-01T14:00:00Z"));
  assert.equal(tokyo.allowed, false);
  assert.equal(next(tokyo), "2026-07-01T23:00:00.000Z");
  // libphonenumber's country wins over the calling code.
  assert.deepEqual(
    resolveCandidates({ phone: "+447911123457", country: "GG" }).timeZones,
    ["Europe/Guernsey"],
  );
  assert.deepEqual(resolveCandidates({ phone: "+447911123457", country: "XX" }).timeZones, []);
  // Several zones are intersected: Australia from Perth to Sydney.
  const au = checkQuietHours({ phone: "+61412345678" }, at("2026-07-01T00:00:00Z"));
  // 00:00Z = 08:00 Perth, 10:00 Sydney: open; it closes at 21:00 Sydney = 11:00Z.
  assert.equal(au.allowed, true);
  assert.equal(au.windowEndsAt?.toISOString(), "2026-07-01T11:00:00.000Z");
  // A country whose zones are unknown and no zone recorded: no window, not a US one.
  const unknown = checkQuietHours({ phone: "+2348012345678" }, at("2026-07-01T12:00:00Z"));
  assert.equal(unknown.allowed, false);
  assert.equal(unknown.reason, "no_common_window");
  assert.equal(unknown.nextAllowedAt, null);
  assert.deepEqual(unknown.timeZones, []);
  // With a recorded zone the record wins.
  const lagos = checkQuietHours(
    { phone: "+2348012345678", timeZone: "Africa/Lagos" },
    at("2026-07-01T12:00:00Z"),
  );
  assert.equal(lagos.allowed, true);
  assert.equal(countryOfCallingCode("+447400123456"), "GB");
  assert.equal(countryOfCallingCode("+35312345678"), "IE");
  assert.equal(countryOfCallingCode("+12125550100"), null);
});
