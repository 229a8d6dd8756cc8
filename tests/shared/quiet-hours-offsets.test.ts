// quiet-hours.ts reads zone offsets from Temporal where the runtime has it and from
// Intl.DateTimeFormat otherwise (the edge runtime may lack Temporal): both must give the same
// answers. A second copy of the module is loaded with Temporal hidden.
import assert from "node:assert/strict";
import fc from "fast-check";
import * as withTemporal from "@shared/compliance/quiet-hours.ts";
import type { QuietHoursRecipient } from "@shared/compliance/quiet-hours.ts";

type Module = typeof withTemporal;
const scope = globalThis as { Temporal?: unknown };

async function loadWithoutTemporal(): Promise<Module> {
  const saved = scope.Temporal;
  delete scope.Temporal;
  try {
    return await import(`${import.meta.resolve("@shared/compliance/quiet-hours.ts")}?intl`);
  } finally {
    if (saved !== undefined) scope.Temporal = saved;
  }
}

const ZONES = [
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Phoenix",
  "America/Los_Angeles",
  "America/Anchorage",
  "Pacific/Honolulu",
  "America/St_Johns",
  "Europe/London",
  "Australia/Lord_Howe",
  "America/Santiago",
  "Etc/GMT+5",
];

Deno.test("quiet hours: Temporal and the Intl fallback agree (2,000 cases)", async () => {
  const withIntl = await loadWithoutTemporal();
  assert.ok(scope.Temporal === undefined || withIntl !== withTemporal);
  const clock = fc.tuple(fc.integer({ min: 0, max: 24 }), fc.constantFrom(0, 30, 59)).map((
    [h, m],
  ) => h === 24 ? "24:00" : `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`);
  const recipient: fc.Arbitrary<QuietHoursRecipient> = fc.record({
    timeZone: fc.option(fc.constantFrom(...ZONES, "Factory", "Not/AZone"), { nil: undefined }),
    state: fc.option(fc.constantFrom("FL", "TX", "RI", "NY"), { nil: undefined }),
    phone: fc.option(fc.constantFrom("+12125550100", "+18505550100", "+19285550100"), {
      nil: undefined,
    }),
  });
  const business = fc.option(
    fc.record({ start: clock, end: clock, timeZone: fc.constantFrom(...ZONES) }),
    { nil: undefined },
  );
  // Around the 2026 DST changes (US, Europe, southern hemisphere) and anywhere in 2026.
  const instant = fc.oneof(
    fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
    fc.integer({ min: Date.UTC(2026, 2, 6), max: Date.UTC(2026, 3, 6) }),
    fc.integer({ min: Date.UTC(2026, 8, 1), max: Date.UTC(2026, 10, 3) }),
  ).map((ms) => new Date(ms));
  fc.assert(
    fc.property(recipient, instant, business, (who, at, businessWindow) => {
      const options = { businessWindow };
      assert.deepEqual(
        withIntl.checkQuietHours(who, at, options),
        withTemporal.checkQuietHours(who, at, options),
      );
    }),
    { numRuns: 2000 },
  );
  for (const zone of [...ZONES, "Factory", "", "Mars/Base", "+05:30", "america/new_york"]) {
    assert.equal(withIntl.isValidTimeZone(zone), withTemporal.isValidTimeZone(zone), zone);
  }
});
