import assert from "node:assert/strict";
import { listAreaCodes, lookupAreaCode } from "@shared/compliance/area-codes.ts";

Deno.test("area codes: lookups, including codes spanning zones", () => {
  assert.deepEqual(lookupAreaCode("212"), {
    areaCode: "212",
    country: "US",
    regions: ["NY"],
    timeZones: ["America/New_York"],
  });
  assert.deepEqual(lookupAreaCode("850")?.timeZones, ["America/New_York", "America/Chicago"]);
  assert.deepEqual(lookupAreaCode("915")?.timeZones, ["America/Denver"]);
  assert.deepEqual(lookupAreaCode("928")?.timeZones, ["America/Phoenix", "America/Denver"]);
  assert.deepEqual(lookupAreaCode("902")?.regions, ["NS", "PE"]);
  assert.equal(lookupAreaCode("867")?.timeZones.length, 4);
  assert.equal(lookupAreaCode("604")?.country, "CA");
  assert.equal(lookupAreaCode("876")?.country, "JM");
  for (const tollFree of ["800", "833", "844", "855", "866", "877", "888", "900", "500", "600"]) {
    assert.equal(lookupAreaCode(tollFree), null, tollFree);
  }
  assert.equal(lookupAreaCode("999"), null);
  // Lookups hand out copies: callers cannot corrupt the table.
  lookupAreaCode("212")!.timeZones.push("Europe/Paris");
  assert.deepEqual(lookupAreaCode("212")?.timeZones, ["America/New_York"]);
});

Deno.test("area codes: the table is well formed", () => {
  const all = listAreaCodes();
  assert.ok(all.length > 400, `only ${all.length} codes`);
  const states = new Set<string>();
  for (const info of all) {
    assert.match(info.areaCode, /^[2-9]\d\d$/);
    assert.notEqual(info.areaCode.slice(1), "11", "N11 is not an area code");
    assert.ok(info.timeZones.length >= 1);
    assert.equal(new Set(info.timeZones).size, info.timeZones.length);
    for (const zone of info.timeZones) {
      // Throws for a zone the runtime does not know.
      new Intl.DateTimeFormat("en-US", { timeZone: zone });
    }
    if (info.country === "US" || info.country === "CA") assert.ok(info.regions.length >= 1);
    else assert.deepEqual(info.regions, []);
    for (const r of info.regions) states.add(r);
  }
  const expected =
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO " +
    "MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR " +
    "AB BC MB NB NL NS PE ON QC SK YT NT NU";
  for (const region of expected.split(" ")) assert.ok(states.has(region), region);
});
