import assert from "node:assert/strict";
import { SmsError } from "@shared/contract/errors.ts";
import {
  applyRequestOverrides,
  finishReserveMs,
  leaseSecondsFor,
  minLeaseSecondsAtSend,
  parseProcessRetriesRequest,
  retryConfigFromEnv,
} from "../../supabase/functions/process-retries/config.ts";

Deno.test("retryConfigFromEnv: defaults, values, and loud failure on nonsense", () => {
  assert.deepEqual(retryConfigFromEnv({}), {
    batchSize: 50,
    budgetMs: 50_000,
    segmentsPerSecond: 10,
    concurrency: 10,
    sendTimeoutMs: 15_000,
    maxRows: 200,
    cpuMsPerRow: 5.5,
    workerCpuBudgetMs: 1600,
    chain: true,
  });
  assert.equal(retryConfigFromEnv({ PROCESS_RETRIES_CHAIN: "off" }).chain, false);
  // A run's rows follow its CPU budget over a row's CPU cost.
  assert.equal(
    retryConfigFromEnv({
      PROCESS_RETRIES_CPU_BUDGET_MS: "600",
      PROCESS_RETRIES_CPU_MS_PER_ROW: "4",
    }).maxRows,
    150,
  );
  assert.throws(() => retryConfigFromEnv({ PROCESS_RETRIES_CPU_MS_PER_ROW: "0" }));
  const c = retryConfigFromEnv({
    SMS_MAX_SEGMENTS_PER_SECOND: "2.5",
    PROCESS_RETRIES_BUDGET_MS: "20000",
    PROCESS_RETRIES_CONCURRENCY: "4",
    PROCESS_RETRIES_BATCH_SIZE: "900",
  });
  assert.deepEqual([c.segmentsPerSecond, c.budgetMs, c.concurrency, c.batchSize], [
    2.5,
    20_000,
    4,
    500,
  ]);
  // Unset, the rows in flight follow the pace: a row's 400 ms ahead of its slot and 400 ms of
  // Twilio latency still keep it.
  assert.equal(retryConfigFromEnv({ SMS_MAX_SEGMENTS_PER_SECOND: "100" }).concurrency, 80);
  assert.equal(retryConfigFromEnv({ SMS_MAX_SEGMENTS_PER_SECOND: "1000" }).concurrency, 100);
  assert.equal(retryConfigFromEnv({ SMS_MAX_SEGMENTS_PER_SECOND: "20" }).concurrency, 16);
  assert.throws(() => retryConfigFromEnv({ SMS_MAX_SEGMENTS_PER_SECOND: "fast" }));
  assert.throws(() => retryConfigFromEnv({ PROCESS_RETRIES_BUDGET_MS: "-1" }));
});

Deno.test("parseProcessRetriesRequest: empty is fine, anything malformed is invalid_request", () => {
  assert.deepEqual(parseProcessRetriesRequest(null), {});
  assert.deepEqual(parseProcessRetriesRequest({}), {});
  assert.deepEqual(parseProcessRetriesRequest({ batchSize: 500 }), { batchSize: 500 });
  assert.deepEqual(parseProcessRetriesRequest({ chain: true }), { chain: true });
  for (
    const bad of [
      { batchSize: 501 },
      { batchSize: 0 },
      { batchSize: "5" },
      [],
      "x",
      {
        unknown: 1,
      },
      { chain: "yes" },
      { chain: 1 },
    ]
  ) {
    assert.throws(
      () => parseProcessRetriesRequest(bad),
      (e) => e instanceof SmsError && e.code === "invalid_request",
      JSON.stringify(bad),
    );
  }
});

Deno.test("applyRequestOverrides: the body may only make a run stricter", () => {
  const env = retryConfigFromEnv({
    SMS_MAX_SEGMENTS_PER_SECOND: "100",
    PROCESS_RETRIES_CONCURRENCY: "10",
  });
  const strict = applyRequestOverrides(env, {
    batchSize: 200,
    budgetMs: 5_000,
    maxSegmentsPerSecond: 20,
    concurrency: 2,
  });
  assert.deepEqual(
    [strict.batchSize, strict.budgetMs, strict.segmentsPerSecond, strict.concurrency],
    [200, 5_000, 20, 2],
  );
  const lax = applyRequestOverrides(env, {
    budgetMs: 600_000,
    maxSegmentsPerSecond: 10_000,
    concurrency: 100,
  });
  assert.deepEqual([lax.budgetMs, lax.segmentsPerSecond, lax.concurrency], [50_000, 100, 10]);
  // A body that slows the pace also lowers the rows in flight the pace would have asked for.
  const fast = retryConfigFromEnv({ SMS_MAX_SEGMENTS_PER_SECOND: "1000" });
  assert.equal(fast.concurrency, 100);
  assert.equal(applyRequestOverrides(fast, { maxSegmentsPerSecond: 50 }).concurrency, 40);
  // Chaining needs both the request (the cron's) and the deployment's consent.
  assert.equal(applyRequestOverrides(env, {}).chain, false);
  assert.equal(applyRequestOverrides(env, { chain: true }).chain, true);
  const off = retryConfigFromEnv({ PROCESS_RETRIES_CHAIN: "off" });
  assert.equal(applyRequestOverrides(off, { chain: true }).chain, false);
});

Deno.test("leases outlast everything a live run can still do with a row", () => {
  const config = retryConfigFromEnv({});
  assert.equal(finishReserveMs(config), 10_000);
  assert.equal(finishReserveMs({ budgetMs: 4_000 }), 1_000);
  const lease = leaseSecondsFor(config);
  assert.equal(lease, 110);
  // Claimed at any point before the last start, a row still has the lease its send needs.
  const lastStart = config.budgetMs - finishReserveMs(config);
  for (let claimedAt = 0; claimedAt <= lastStart; claimedAt += 1000) {
    for (let markAt = claimedAt; markAt <= lastStart; markAt += 1000) {
      const left = lease - (markAt - claimedAt) / 1000;
      assert.ok(left >= minLeaseSecondsAtSend(config, lastStart - markAt));
    }
  }
});
