import assert from "node:assert/strict";
import {
  type CampaignSchedule,
  frequencyCapOf,
  localTimeToInstant,
  type Release,
  releaseFor,
} from "@shared/campaign/schedule.ts";
import type { QuietHoursRecipient } from "@shared/compliance/quiet-hours.ts";

const ny: QuietHoursRecipient = {
  timeZone: "America/New_York",
  state: "NY",
  phone: "+12125550101",
};
const la: QuietHoursRecipient = {
  timeZone: "America/Los_Angeles",
  state: "CA",
  phone: "+13105550101",
};
const miami: QuietHoursRecipient = {
  timeZone: "America/New_York",
  state: "FL",
  phone: "+13055550100",
};
const houston: QuietHoursRecipient = {
  timeZone: "America/Chicago",
  state: "TX",
  phone: "+17135550100",
};
const birmingham: QuietHoursRecipient = {
  timeZone: "America/Chicago",
  state: "AL",
  phone: "+12055550100",
};

const local = (date: string, time: string): CampaignSchedule => ({ kind: "local", date, time });
const release = (iso: string): Release => ({ kind: "release", at: new Date(iso) });
const SKIP: Release = { kind: "skip", reason: "no_window_before_expiry" };
// 2026-06-10 is a Wednesday.
const opts = (now: string, expiresAt = "2027-01-01T00:00:00Z") => ({
  now: new Date(now),
  expiresAt: new Date(expiresAt),
});

Deno.test("schedule: local 10:00 is 10:00 in each zone, three hours apart coast to coast", () => {
  const o = opts("2026-06-10T00:00:00Z");
  assert.deepEqual(
    releaseFor(ny, local("2026-06-10", "10:00"), o),
    release("2026-06-10T14:00:00Z"),
  );
  assert.deepEqual(
    releaseFor(la, local("2026-06-10", "10:00"), o),
    release("2026-06-10T17:00:00Z"),
  );
});

Deno.test("schedule: a start already past goes now; now and at are moved into the window", () => {
  // 11:00 in New York, 08:00 in Los Angeles.
  const o = opts("2026-06-10T15:00:00Z");
  assert.deepEqual(
    releaseFor(ny, local("2026-06-10", "10:00"), o),
    release("2026-06-10T15:00:00Z"),
  );
  assert.deepEqual(
    releaseFor(la, local("2026-06-10", "10:00"), o),
    release("2026-06-10T17:00:00Z"),
  );
  const past = { kind: "at" as const, at: new Date("2026-06-01T00:00:00Z") };
  assert.deepEqual(releaseFor(ny, past, o), release("2026-06-10T15:00:00Z"));
  // 22:00 in New York: the next window opens at 08:00.
  const late = opts("2026-06-11T02:00:00Z");
  assert.deepEqual(releaseFor(ny, { kind: "now" }, late), release("2026-06-11T12:00:00Z"));
  const at = { kind: "at" as const, at: new Date("2026-06-12T03:00:00Z") };
  assert.deepEqual(releaseFor(ny, at, late), release("2026-06-12T12:00:00Z"));
});

Deno.test("schedule: quiet hours push local times (federal 8–21, Florida 8–20)", () => {
  const o = opts("2026-06-01T00:00:00Z");
  assert.deepEqual(
    releaseFor(ny, local("2026-06-10", "07:00"), o),
    release("2026-06-10T12:00:00Z"),
  );
  assert.deepEqual(
    releaseFor(miami, local("2026-06-10", "07:00"), o),
    release("2026-06-10T12:00:00Z"),
  );
  // Without a recorded zone, Florida's Central panhandle counts too: 08:00 CDT.
  assert.deepEqual(
    releaseFor({ ...miami, timeZone: null }, local("2026-06-10", "07:00"), o),
    release("2026-06-10T13:00:00Z"),
  );
  // 20:30 is open in New York, closed in Florida until 08:00 the next day.
  assert.deepEqual(
    releaseFor(ny, local("2026-06-10", "20:30"), o),
    release("2026-06-11T00:30:00Z"),
  );
  assert.deepEqual(
    releaseFor(miami, local("2026-06-10", "20:30"), o),
    release("2026-06-11T12:00:00Z"),
  );
});

Deno.test("schedule: Sunday and holiday rules (Texas Sunday noon, Alabama no Sunday or holiday)", () => {
  const o = opts("2026-06-01T00:00:00Z");
  // 2026-06-14 is a Sunday: Texas opens at 12:00 (CDT, UTC-5), Alabama on Monday at 08:00.
  assert.deepEqual(
    releaseFor(houston, local("2026-06-14", "09:00"), o),
    release("2026-06-14T17:00:00Z"),
  );
  assert.deepEqual(
    releaseFor(birmingham, local("2026-06-14", "09:00"), o),
    release("2026-06-15T13:00:00Z"),
  );
  // Christmas 2026 is a Friday: Alabama waits for Saturday 08:00 (CST, UTC-6).
  assert.deepEqual(
    releaseFor(birmingham, local("2026-12-25", "10:00"), opts("2026-12-01T00:00:00Z")),
    release("2026-12-26T14:00:00Z"),
  );
});

Deno.test("schedule: DST gaps move to the end of the gap, overlaps take the first occurrence", () => {
  const zone = "America/New_York";
  // 2026-03-08 02:00 EST jumps to 03:00 EDT (07:00Z): 02:30 does not exist.
  assert.equal(
    localTimeToInstant("2026-03-08", "02:30", zone).toISOString(),
    "2026-03-08T07:00:00.000Z",
  );
  assert.equal(
    localTimeToInstant("2026-03-08", "01:59", zone).toISOString(),
    "2026-03-08T06:59:00.000Z",
  );
  assert.equal(
    localTimeToInstant("2026-03-08", "03:00", zone).toISOString(),
    "2026-03-08T07:00:00.000Z",
  );
  // 2026-11-01 01:30 happens twice: 05:30Z (EDT) and 06:30Z (EST).
  assert.equal(
    localTimeToInstant("2026-11-01", "01:30", zone).toISOString(),
    "2026-11-01T05:30:00.000Z",
  );
  assert.equal(
    localTimeToInstant("2026-11-01", "02:00", zone).toISOString(),
    "2026-11-01T07:00:00.000Z",
  );
  // East of Greenwich too: Europe/London's 01:30 on 2026-03-29 does not exist (BST from 01:00Z).
  assert.equal(
    localTimeToInstant("2026-03-29", "01:30", "Europe/London").toISOString(),
    "2026-03-29T01:00:00.000Z",
  );
  assert.equal(
    localTimeToInstant("2026-10-25", "01:30", "Europe/London").toISOString(),
    "2026-10-25T00:30:00.000Z",
  );
  // As a schedule: 2026-03-08 is a Sunday; 03:00 EDT is quiet, so 08:00 EDT.
  const o = opts("2026-03-01T00:00:00Z");
  assert.deepEqual(
    releaseFor(ny, local("2026-03-08", "02:30"), o),
    release("2026-03-08T12:00:00Z"),
  );
  assert.deepEqual(
    releaseFor(ny, local("2026-03-09", "09:00"), o),
    release("2026-03-09T13:00:00Z"),
  );
  for (
    const [date, time] of [["2026-02-30", "10:00"], ["2026-06-10", "24:00"], ["2026-6-1", "1:00"]]
  ) {
    assert.throws(() => localTimeToInstant(date, time, zone), RangeError);
  }
});

Deno.test("schedule: no window before expiry (or no zone for a local time) is a skip", () => {
  // 22:00 in New York; the campaign expires at 07:00 the next morning.
  const o = opts("2026-06-11T02:00:00Z", "2026-06-11T11:00:00Z");
  assert.deepEqual(releaseFor(ny, { kind: "now" }, o), SKIP);
  // Expiring exactly when the window opens still releases.
  const edge = opts("2026-06-11T02:00:00Z", "2026-06-11T12:00:00Z");
  assert.deepEqual(releaseFor(ny, { kind: "now" }, edge), release("2026-06-11T12:00:00Z"));
  // A start after the expiry, even inside a window.
  assert.deepEqual(releaseFor(ny, local("2026-06-12", "10:00"), edge), SKIP);
  // A number whose country's zones are unknown (Nigeria): no local time, no window.
  const lagos = { phone: "+2348031234567" };
  assert.deepEqual(
    releaseFor(lagos, local("2026-06-10", "10:00"), opts("2026-06-10T00:00:00Z")),
    SKIP,
  );
  assert.deepEqual(releaseFor(lagos, { kind: "now" }, opts("2026-06-10T00:00:00Z")), SKIP);
});

Deno.test("schedule: frequency cap of a recipient", () => {
  assert.deepEqual(frequencyCapOf(miami), { max: 3, windowMs: 86_400_000 });
  assert.equal(frequencyCapOf(ny), null);
});
