import assert from "node:assert/strict";
import { claimLimit, createRunBudget, minimumSpanMs, runPool, slotCostMs } from "@shared/pacing.ts";

Deno.test("slotCostMs / minimumSpanMs: segments, not messages, use the rate", () => {
  assert.equal(slotCostMs(1, 100), 10);
  assert.equal(slotCostMs(3, 10), 300);
  assert.equal(slotCostMs(0, 10), 100);
  assert.throws(() => slotCostMs(1, 0), RangeError);
  assert.equal(minimumSpanMs(new Array(300).fill(1), 100), 2990);
  assert.equal(minimumSpanMs([2, 2, 1], 10), 400);
  assert.equal(minimumSpanMs([], 10), 0);
});

Deno.test("createRunBudget: sends may start until budget − reserve", () => {
  let t = 1000;
  const budget = createRunBudget({ budgetMs: 50_000, reserveMs: 10_000, clock: () => t });
  assert.equal(budget.startDeadline, 41_000);
  assert.ok(budget.canStart());
  t = 40_999;
  assert.equal(budget.remainingStartMs(), 1);
  t = 41_000;
  assert.ok(!budget.canStart());
  assert.equal(budget.remainingStartMs(), 0);
  assert.equal(budget.elapsedMs(), 40_000);
});

Deno.test("claimLimit: no more rows than could start before the deadline", () => {
  assert.equal(claimLimit({ batchSize: 50, remainingStartMs: 40_000, segmentsPerSecond: 10 }), 50);
  assert.equal(claimLimit({ batchSize: 50, remainingStartMs: 2_000, segmentsPerSecond: 10 }), 21);
  assert.equal(
    claimLimit({ batchSize: 50, remainingStartMs: 2_000, segmentsPerSecond: 10, backlogMs: 1_500 }),
    6,
  );
  assert.equal(claimLimit({ batchSize: 50, remainingStartMs: 0, segmentsPerSecond: 10 }), 0);
  assert.equal(
    claimLimit({ batchSize: 50, remainingStartMs: 1_000, segmentsPerSecond: 10, backlogMs: 2_000 }),
    0,
  );
});

Deno.test("runPool: bounded concurrency, item order, stops starting when told", async () => {
  let inFlight = 0;
  let peak = 0;
  const { results, notStarted } = await runPool([1, 2, 3, 4, 5, 6, 7], async (n) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 5 * (8 - n)));
    inFlight--;
    return n * 10;
  }, { concurrency: 3 });
  assert.equal(peak, 3);
  assert.deepEqual(results, [10, 20, 30, 40, 50, 60, 70]);
  assert.deepEqual(notStarted, []);

  let started = 0;
  const partial = await runPool([1, 2, 3, 4, 5], async (n) => {
    started++;
    await Promise.resolve();
    return n;
  }, { concurrency: 1, shouldStart: () => started < 2 });
  assert.deepEqual(partial.notStarted, [2, 3, 4]);
  assert.deepEqual(partial.results, [1, 2, undefined, undefined, undefined]);
});

Deno.test("runPool: a task's error rejects after the others settle", async () => {
  const settled: number[] = [];
  await assert.rejects(
    runPool([1, 2, 3], async (n) => {
      await new Promise((r) => setTimeout(r, n));
      if (n === 1) throw new Error("boom");
      settled.push(n);
      return n;
    }, { concurrency: 3 }),
    /boom/,
  );
  assert.deepEqual(settled, [2, 3]);
});
