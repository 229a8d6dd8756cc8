import assert from "node:assert/strict";
import {
  claimLimit,
  CpuLedger,
  createRunBudget,
  minimumSpanMs,
  SendSpacer,
  slotCostMs,
  TaskPool,
} from "../../supabase/functions/process-retries/pacing.ts";

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

Deno.test("TaskPool: bounded concurrency, fed in batches, lanes refilled as tasks end", async () => {
  const pool = new TaskPool(3);
  let inFlight = 0;
  let peak = 0;
  const done: number[] = [];
  const task = (n: number) => async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 5 * (8 - n)));
    inFlight--;
    done.push(n);
  };
  for (const batch of [[1, 2, 3, 4], [5, 6, 7]]) {
    for (const n of batch) {
      await pool.ready();
      assert.ok(pool.size < 3);
      pool.start(task(n));
    }
    // The next batch arrives while this one's last tasks still run.
    assert.ok(pool.size > 0);
  }
  await pool.drain();
  assert.equal(peak, 3);
  assert.equal(pool.size, 0);
  assert.deepEqual([...done].sort(), [1, 2, 3, 4, 5, 6, 7]);
});

Deno.test("TaskPool: a task's error is reported after the others settle", async () => {
  const pool = new TaskPool(3);
  const settled: number[] = [];
  for (const n of [1, 2, 3]) {
    pool.start(async () => {
      await new Promise((r) => setTimeout(r, n));
      if (n === 1) throw new Error("boom");
      settled.push(n);
    });
  }
  await assert.rejects(pool.drain(), /boom/);
  assert.deepEqual(settled, [2, 3]);
});

Deno.test("CpuLedger: what is planned comes off the budget, never below zero", () => {
  const ledger = new CpuLedger(10);
  const seat = ledger.enter();
  assert.equal(ledger.leftMs, 10);
  seat.plan(4);
  seat.plan(4);
  assert.equal(ledger.leftMs, 2);
  seat.plan(4);
  assert.equal(ledger.leftMs, 0);
});

Deno.test("CpuLedger: a run that reaches the worker plans from the soft limit and what is not yet spent", () => {
  const ledger = new CpuLedger(1600, 1000);
  const first = ledger.enter();
  first.plan(1500);
  assert.equal(ledger.leftMs, 100);
  const second = ledger.enter();
  assert.equal(ledger.leftMs, 100, "nothing of the first run's plan is spent yet");
  first.spent(1300);
  second.leave();
  const third = ledger.enter();
  assert.equal(ledger.leftMs, 400, "the soft limit and the 200 ms the first run has yet to spend");
  first.spent(500);
  third.leave();
  first.leave();
  const fourth = ledger.enter();
  assert.equal(ledger.leftMs, 600, "alone: the soft limit only");
  fourth.leave();
  const small = new CpuLedger(1600, 1000);
  small.enter().plan(300);
  small.enter();
  assert.equal(small.leftMs, 1300, "what is planned below the soft limit stays planned");
});

Deno.test("CpuLedger: othersClaiming() says whether another run would take the room", () => {
  const ledger = new CpuLedger(1600, 1000);
  const a = ledger.enter();
  const b = ledger.enter();
  assert.ok(b.othersClaiming());
  a.claimed();
  assert.ok(!b.othersClaiming(), "a run that claims no more does not count");
  assert.ok(b.othersSending(), "it still sends");
  assert.ok(a.othersClaiming());
  b.issued();
  assert.ok(!a.othersClaiming(), "nor one that made all its requests");
});

Deno.test("CpuLedger: othersIssued() settles once no other run is starting sends", async () => {
  const ledger = new CpuLedger(1600, 1000);
  const a = ledger.enter();
  const b = ledger.enter();
  const self = ledger.enter();
  let settled = false;
  const waiting = self.othersIssued().then(() => (settled = true));
  a.issued();
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(settled, false, "b still sends");
  b.leave();
  await waiting;
  assert.equal(settled, true);
  assert.ok(!self.othersSending());
  a.leave();
  a.leave();
  self.leave();
  await ledger.enter().othersIssued();
});

Deno.test("SendSpacer: timers that fire together go out apart", async () => {
  // A fake clock: sleepers wake in time order as it is moved on.
  let t = 0;
  const sleepers: { at: number; wake: () => void }[] = [];
  const sleep = (ms: number) => new Promise<void>((wake) => sleepers.push({ at: t + ms, wake }));
  const settle = () => new Promise((r) => setTimeout(r, 0));
  const runClock = async () => {
    for (await settle(); sleepers.length > 0; await settle()) {
      sleepers.sort((a, b) => a.at - b.at);
      const next = sleepers.shift()!;
      t = Math.max(t, next.at);
      next.wake();
    }
  };
  const spacer = new SendSpacer(() => t);
  // Three sends whose timers fired together (a busy event loop) go out three quarters of a slot
  // apart, however late they are.
  const at: number[] = [];
  const sends = [0, 1, 2].map(async () => {
    await spacer.take("a", t, 10, sleep);
    at.push(t);
  });
  await runClock();
  await Promise.all(sends);
  assert.deepEqual(at, [0, 7.5, 15]);
  t = 100;
  await spacer.take("a", t, 10, sleep);
  assert.equal(sleepers.length, 0, "a send a slot after the last one does not wait");
  await spacer.take("b", t, 10, sleep);
  assert.equal(sleepers.length, 0, "another sender has its own sends");
  assert.notEqual(new SendSpacer().worker, spacer.worker, "each worker books under its own name");
});

Deno.test("SendSpacer: a stall is caught up, never past the booked pace in any second", async () => {
  let t = 0;
  const spacer = new SendSpacer(() => t);
  const sleep = (ms: number) => {
    t += ms;
    return Promise.resolve();
  };
  // 3 s of one-segment slots 10 ms apart; the worker stalls from 500 to 650 ms, and two sends of
  // three segments (30 ms slots) come after it.
  const slots: { at: number; ms: number }[] = [];
  for (let at = 0; at < 3000;) {
    const ms = slots.length === 70 || slots.length === 71 ? 30 : 10;
    slots.push({ at, ms });
    at += ms;
  }
  const sent: number[] = [];
  for (const slot of slots) {
    t = Math.max(t, slot.at, slot.at >= 500 && slot.at < 650 ? 650 : -Infinity);
    await spacer.take("a", slot.at, slot.ms, sleep);
    sent.push(t);
  }
  sent.forEach((at, i) => assert.ok(at >= slots[i].at, `send ${i} before its slot`));
  for (let i = 1; i < sent.length; i++) {
    assert.ok(sent[i] - sent[i - 1] >= 0.75 * slots[i - 1].ms - 1e-9, `send ${i} too close`);
  }
  // Any second holds no more of the sender than its slots: before each send, the sends of the
  // 1,000 ms before it occupy at most 1,000 ms.
  for (let i = 0; i < sent.length; i++) {
    let busy = 0;
    for (let j = i - 1; j >= 0 && sent[j] > sent[i] - 1000; j--) busy += slots[j].ms;
    assert.ok(busy <= 1000 + 1e-9, `${busy} ms of slots in the second before send ${i}`);
  }
  // The stall left sends 150 ms behind their slots; they caught up within the second after it.
  // The catching up fills the windows that hold it, so the second after that echoes it, fainter
  // each time: sent on the schedule alone, every later send would stay 150 ms behind.
  const behind = sent.map((at, i) => at - slots[i].at);
  assert.equal(Math.max(...behind), 150);
  const caughtUp = behind.findIndex((ms, i) => i > 50 && ms === 0);
  assert.ok(caughtUp > 50 && caughtUp < 120, `caught up at send ${caughtUp}`);
  assert.ok(behind[behind.length - 1] < 50, `${behind[behind.length - 1]} ms behind at the end`);
});

Deno.test("SendSpacer: a send that would run past the worker's booking into the gap is flagged", async () => {
  let t = 1000;
  const spacer = new SendSpacer(() => t);
  const sleep = () => Promise.resolve();
  assert.equal(spacer.pastBooking("a", 5000, 0), false, "nothing booked: nothing to run past");
  spacer.booked("a", 1200);
  spacer.booked("a", 1100);
  // The worker's last send went 50 ms after its slot.
  await spacer.take("a", t - 50, 10, sleep);
  assert.equal(spacer.pastBooking("a", 1150, 100), false, "1,200 is before 1,300");
  assert.equal(spacer.pastBooking("a", 1260, 100), true, "1,310 runs past the booking's end");
  t = 1100;
  await spacer.take("a", t, 10, sleep);
  assert.equal(spacer.pastBooking("a", 1260, 100), false, "sends on time again: 1,260 is fine");
  assert.equal(spacer.pastBooking("b", 1260, 100), false, "another sender has its own booking");
});
