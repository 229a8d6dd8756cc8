/**
 * Price lookups without a stack: the settings and their defaults, what a run may read, the list
 * window around the claimed logs, what counts as a listed price, and the list request as
 * process-retries sends it (PageSize 1000, the sender and a DateSent window). Which logs are due
 * is the database's (pgTAP: campaign_prices.test.sql); the whole path runs in
 * campaign-prices.test.ts.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_PRICE_MAX_AGE_H,
  DEFAULT_PRICE_PAGES,
  DEFAULT_PRICE_RECHECK_S,
  DEFAULT_PRICE_SETTLE_S,
  DEFAULT_PRICE_SPAN_S,
  mayReadPricePage,
  PRICE_PAGE_CPU_ROWS,
  priceClaimLimit,
  pricesOf,
  priceWindow,
  pricingConfigFromEnv,
  WINDOW_AFTER_MS,
  WINDOW_BEFORE_MS,
} from "../../supabase/functions/process-retries/pricing.ts";
import { createTwilioClient, loadTwilioConfig } from "@shared/twilio/client.ts";
import { messagePages } from "@shared/twilio/messages.ts";

Deno.test("pricingConfigFromEnv: documented defaults, values, and loud failure on nonsense", () => {
  assert.deepEqual(pricingConfigFromEnv({}), {
    maxPages: DEFAULT_PRICE_PAGES,
    settleS: DEFAULT_PRICE_SETTLE_S,
    recheckS: DEFAULT_PRICE_RECHECK_S,
    maxAgeS: DEFAULT_PRICE_MAX_AGE_H * 3600,
    spanS: DEFAULT_PRICE_SPAN_S,
  });
  assert.deepEqual([
    DEFAULT_PRICE_PAGES,
    DEFAULT_PRICE_SETTLE_S,
    DEFAULT_PRICE_MAX_AGE_H,
  ], [
    5,
    300,
    48,
  ]);
  const c = pricingConfigFromEnv({
    PROCESS_RETRIES_PRICE_PAGES: "0",
    PROCESS_RETRIES_PRICE_SETTLE_S: "60",
    PROCESS_RETRIES_PRICE_RECHECK_S: "600",
    PROCESS_RETRIES_PRICE_MAX_AGE_H: "24",
    PROCESS_RETRIES_PRICE_SPAN_S: "30",
  });
  assert.deepEqual(c, {
    maxPages: 0,
    settleS: 60,
    recheckS: 600,
    maxAgeS: 86_400,
    spanS: 30,
  });
  for (
    const [name, value] of [
      ["PROCESS_RETRIES_PRICE_PAGES", "-1"],
      ["PROCESS_RETRIES_PRICE_PAGES", "11"],
      ["PROCESS_RETRIES_PRICE_PAGES", "2.5"],
      ["PROCESS_RETRIES_PRICE_RECHECK_S", "10"],
      ["PROCESS_RETRIES_PRICE_MAX_AGE_H", "0"],
      ["PROCESS_RETRIES_PRICE_SPAN_S", "many"],
    ]
  ) {
    assert.throws(
      () => pricingConfigFromEnv({ [name]: value }),
      new RegExp(name),
    );
  }
});

Deno.test("a run claims what its pages hold and reads pages while its budgets allow", () => {
  assert.equal(priceClaimLimit({ maxPages: 5 }), 5_000);
  assert.equal(priceClaimLimit({ maxPages: 0 }), 0);
  const ok = {
    config: { maxPages: 2 },
    read: 0,
    cpuRowsLeft: 100,
    canStart: true,
  };
  assert.equal(mayReadPricePage(ok), true);
  assert.equal(mayReadPricePage({ ...ok, read: 2 }), false, "pages used up");
  assert.equal(
    mayReadPricePage({ ...ok, canStart: false }),
    false,
    "time used up",
  );
  assert.equal(
    mayReadPricePage({ ...ok, cpuRowsLeft: PRICE_PAGE_CPU_ROWS - 1 }),
    false,
    "CPU",
  );
  assert.equal(
    mayReadPricePage({ ...ok, config: { maxPages: 0 } }),
    false,
    "off",
  );
});

Deno.test("priceWindow: from before the oldest send to just after the newest", () => {
  const a = new Date("2026-12-04T13:00:00Z"),
    b = new Date("2026-12-04T13:00:40Z");
  const w = priceWindow([b, a]);
  assert.equal(w.after.getTime(), a.getTime() - WINDOW_BEFORE_MS);
  assert.equal(w.before.getTime(), b.getTime() + WINDOW_AFTER_MS);
  assert.throws(() => priceWindow([]));
});

Deno.test("pricesOf: only well-formed prices and units; unpriced messages are left out", () => {
  const prices = pricesOf([
    { sid: "SM1", price: "-0.00830", price_unit: "USD" },
    { sid: "SM2", price: null, price_unit: "USD" },
    { sid: "SM3", price: "-0.0083", price_unit: "usd" },
    { sid: "SM4", price: "abc", price_unit: "USD" },
    { sid: "SM5", price: "0.00000", price_unit: "EUR" },
    { price: "-0.00830", price_unit: "USD" },
    { sid: "SM6", price: "-1e3", price_unit: "USD" },
  ]);
  assert.deepEqual(prices, [
    { sid: "SM1", price: "-0.00830", unit: "USD" },
    { sid: "SM5", price: "0.00000", unit: "EUR" },
  ]);
});

Deno.test("messagePages: PageSize 1000 with the sender and a DateSent window, then next_page_uri", async () => {
  const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);
  const seen: string[] = [];
  const client = createTwilioClient({
    ...loadTwilioConfig({
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: "fedcba9876543210".repeat(2),
      TWILIO_PHONE_NUMBER: "+15005550006",
    })!,
    apiBaseUrl: "http://sb",
  }, {
    fetch: (input) => {
      const url = String(input instanceof Request ? input.url : input);
      seen.push(url);
      const next = seen.length === 1
        ? `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json?PageSize=1000&Page=1`
        : null;
      return Promise.resolve(
        Response.json({
          messages: [{ sid: `SM${seen.length}` }],
          next_page_uri: next,
        }),
      );
    },
  });
  const pages = messagePages(
    client,
    {
      From: "+15005550006",
      "DateSent>": "2026-12-04T12:45:00Z",
      "DateSent<": "2026-12-04T13:00:50Z",
    },
    5,
    1000,
  );
  const got: unknown[] = [];
  let end;
  for (;;) {
    const p = await pages.next();
    if (p.done) {
      end = p.value;
      break;
    }
    got.push(...p.value);
  }
  assert.equal(end, true);
  assert.deepEqual(got, [{ sid: "SM1" }, { sid: "SM2" }]);
  const first = new URL(seen[0]);
  assert.equal(first.searchParams.get("PageSize"), "1000");
  assert.equal(first.searchParams.get("From"), "+15005550006");
  assert.equal(first.searchParams.get("DateSent>"), "2026-12-04T12:45:00Z");
  assert.equal(first.searchParams.get("DateSent<"), "2026-12-04T13:00:50Z");
  assert.match(seen[1], /Page=1/);
  await assert.rejects(messagePages(client, {}, 1, 1001).next(), /pageSize/);
});
