import assert from "node:assert/strict";
import {
  DEFAULT_PRICE_TABLE,
  estimateCost,
  estimateDelivery,
  priceTableFromEnv,
} from "@shared/campaign/estimate.ts";

const at = (iso: string) => new Date(iso);

Deno.test("estimate: delivery drains groups in release order at the rate", () => {
  assert.deepEqual(estimateDelivery([], 1), { firstAt: null, lastAt: null });
  // Out of order on purpose: 14:00 (30 segments), 14:00:10 (10), then 17:00 (5), at 2 per second.
  const groups = [
    { releaseAt: at("2026-06-10T17:00:00Z"), segments: 5 },
    { releaseAt: at("2026-06-10T14:00:00Z"), segments: 30 },
    { releaseAt: at("2026-06-10T14:00:10Z"), segments: 10 },
  ];
  // 14:00 + 15 s; the second group waits for the first: 14:00:15 + 5 s; idle until 17:00 + 2.5 s.
  assert.deepEqual(estimateDelivery(groups, 2), {
    firstAt: at("2026-06-10T14:00:00Z"),
    lastAt: at("2026-06-10T17:00:02.500Z"),
  });
  assert.deepEqual(estimateDelivery(groups.slice(1), 2).lastAt, at("2026-06-10T14:00:20Z"));
  // Rounded up to the millisecond: 1 segment at 3 per second is 333.33… ms.
  assert.deepEqual(
    estimateDelivery([{ releaseAt: at("2026-06-10T14:00:00Z"), segments: 1 }], 3).lastAt,
    at("2026-06-10T14:00:00.334Z"),
  );
  for (const rate of [0, -1, NaN, Infinity]) {
    assert.throws(() => estimateDelivery(groups, rate), RangeError);
  }
});

Deno.test("estimate: price table from the setting, the defaults when unset or malformed", () => {
  assert.equal(priceTableFromEnv(undefined), DEFAULT_PRICE_TABLE);
  assert.equal(priceTableFromEnv(" "), DEFAULT_PRICE_TABLE);
  assert.deepEqual(DEFAULT_PRICE_TABLE.US, { "GSM-7": 0.0083, "UCS-2": 0.0083 });
  assert.deepEqual(DEFAULT_PRICE_TABLE.default, { "GSM-7": 0.05, "UCS-2": 0.05 });
  const custom = priceTableFromEnv(
    '{"us":{"GSM-7":0.0079,"UCS-2":0.0081},"default":{"GSM-7":0.04,"UCS-2":0.06}}',
  );
  assert.deepEqual(custom, {
    US: { "GSM-7": 0.0079, "UCS-2": 0.0081 },
    default: { "GSM-7": 0.04, "UCS-2": 0.06 },
  });
  // Without its own default, the built-in one.
  assert.deepEqual(priceTableFromEnv('{"GB":{"GSM-7":0.04,"UCS-2":0.04}}').default, {
    "GSM-7": 0.05,
    "UCS-2": 0.05,
  });
  for (
    const bad of [
      "{",
      "[]",
      "null",
      "0.01",
      '{"US":{"GSM-7":0.01}}',
      '{"US":{"GSM-7":-1,"UCS-2":0.01}}',
      '{"US":{"GSM-7":"0.01","UCS-2":0.01}}',
      '{"USA":{"GSM-7":0.01,"UCS-2":0.01}}',
      '{"__proto__":{"GSM-7":0.01,"UCS-2":0.01}}',
      '{"US":[0.01,0.01]}',
    ]
  ) {
    assert.equal(priceTableFromEnv(bad), DEFAULT_PRICE_TABLE, bad);
  }
});

Deno.test("estimate: cost by country at its rate, else default, rounded to 4 decimals", () => {
  const table = priceTableFromEnv(
    '{"US":{"GSM-7":0.0083,"UCS-2":0.0083},"GB":{"GSM-7":0.04,"UCS-2":0.045},' +
      '"default":{"GSM-7":0.05,"UCS-2":0.05}}',
  );
  assert.deepEqual(
    estimateCost([
      { country: "US", encoding: "GSM-7", segments: 3 },
      { country: "us", encoding: "UCS-2", segments: 1 },
      { country: "GB", encoding: "UCS-2", segments: 2 },
      { country: "FR", encoding: "GSM-7", segments: 1 },
      { country: null, encoding: "GSM-7", segments: 2 },
      { country: "default", encoding: "GSM-7", segments: 1 },
    ], table),
    {
      currency: "USD",
      total: 0.3232,
      byCountry: { US: 0.0332, GB: 0.09, FR: 0.05, unknown: 0.1, DEFAULT: 0.05 },
    },
  );
  assert.deepEqual(estimateCost([], table), { currency: "USD", total: 0, byCountry: {} });
  // 1,000,001 segments at 0.0083: rounded once, not per row.
  assert.equal(
    estimateCost([{ country: "US", encoding: "GSM-7", segments: 1_000_001 }], table).total,
    8300.0083,
  );
});
