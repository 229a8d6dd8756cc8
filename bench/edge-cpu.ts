/**
 * `edge-cpu`: the CPU time of one process-retries invocation at the default settings (pace 10
 * segments/s, batches of 50, the CPU plan of 1,100 ms a run) with a full queue (more due rows than
 * one run may start), on the edge runtime's Deno, against the platform's 2 s CPU limit. The ratio
 * is the invocation's CPU (its workers' JavaScript thread, from /proc) over
 * `FREE_PLAN_LIMITS.cpuHardMs`; target ≤ 0.6.
 *
 * The process is started as the stack starts functions (bench/lib/retries.ts), with none of the
 * pace, batch or CPU settings: every one at its default. One call on an empty queue first opens
 * its pool, as the cron's previous minute would have; its CPU (with the worker's boot) is
 * reported beside the headline. The sandbox answers with the drain's latency mix (median 150 ms,
 * 1% over 1.5 s) and no faults.
 *
 * The quick form makes the run short with a stricter budget in the request (`budgetMs`, which a
 * request may lower), so it starts a few rows instead of the defaults' 200.
 *
 * @module
 */
import { FREE_PLAN_LIMITS } from "@local/limits.ts";
import { edgeDenoVersion } from "@local/edge-deno.ts";
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CPU_BUDGET_MS,
  DEFAULT_CPU_MS_PER_ROW,
  DEFAULT_SEGMENTS_PER_SECOND,
  retryConfigFromEnv,
} from "../supabase/functions/process-retries/config.ts";
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt, int } from "./lib/report.ts";
import {
  fenceOtherRetries,
  ownerDb,
  restoreSandboxConfig,
  sandboxConfig,
  sandboxConfigNow,
  sandboxIdle,
  withCronPaused,
} from "./lib/stack.ts";
import { scratchTenant } from "./lib/tenant.ts";
import {
  enqueueDue,
  queueLeft,
  type RetriesProcess,
  type RunAnswer,
  sandboxAttempts,
  startProcessRetries,
} from "./lib/retries.ts";

const TARGET = 0.6;
/** The sandbox's latency mix (the drain's): median and 99th percentile, in ms. */
export const LATENCY = { latencyMs: 150, latencyP99Ms: 1_500 } as const;

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const defaults = retryConfigFromEnv({});
  // Full: more than a run at the defaults may start (its CPU plan allows maxRows).
  const rows = ctx.quick ? 40 : 2 * defaults.maxRows + 100;
  const request = ctx.quick ? { budgetMs: 3_000 } : {};
  const sql = ownerDb(info, 4);
  const savedConfig = await sandboxConfigNow(info);
  const tenant = await scratchTenant(sql, info, "edge-cpu");
  let fn: RetriesProcess | null = null;
  let answer: RunAnswer | null = null;
  let warmCpuMs = NaN;
  let runCpuMs = NaN;
  let seconds = NaN;
  let left = { open: -1, due: -1 };
  let created = 0;
  try {
    fn = await startProcessRetries(info, {}, { tag: "bench-edge-cpu", log: ctx.log });
    const f = fn;
    const customers = await tenant.customers(rows);
    const fence = await fenceOtherRetries(info, tenant.businessId);
    try {
      await withCronPaused(sql, async () => {
        await f.call(request);
        warmCpuMs = f.cpuMs();
        await sandboxConfig(info, {
          ...LATENCY,
          ...(ctx.quick ? {} : { callbackDelayMs: 600_000 }),
        });
        await enqueueDue(sql, customers.map((c) => c.id));
        const before = (await sandboxAttempts(info)).length;
        ctx.log(`one run at the defaults, ${rows} due rows queued`);
        const started = performance.now();
        answer = await f.call(request);
        seconds = (performance.now() - started) / 1000;
        runCpuMs = f.cpuMs() - warmCpuMs;
        left = await queueLeft(sql, tenant.businessId);
        const phones = new Set(customers.map((c) => c.phone));
        created = (await sandboxAttempts(info)).slice(before)
          .filter((a) => a.outcome === "created" && a.to !== null && phones.has(a.to)).length;
      });
    } finally {
      await fence.release();
    }
    // Callbacks land before the tenants go (quick form; the full form holds them back).
    if (ctx.quick) await sandboxIdle(info);
  } finally {
    await restoreSandboxConfig(info, savedConfig);
    await fn?.stop();
    await tenant.drop().catch((e) => ctx.log(`cleanup: ${e.message}`));
    await sql.end({ timeout: 5 });
  }
  const a: RunAnswer = answer ?? { claimed: 0, sent: 0, deferred: 0, failed: 0, skipped: 0 };
  const ratio = runCpuMs / FREE_PLAN_LIMITS.cpuHardMs;
  const cpuPerRow = runCpuMs / Math.max(1, a.sent);
  const checks: Check[] = [
    {
      name: "the run sent what it claimed, once each",
      ok: a.sent > 0 && a.failed === 0 && created === a.sent,
      detail: `${a.claimed} claimed, ${a.sent} sent, ${a.deferred} deferred, ${a.failed} ` +
        `failed; ${created} reached the sandbox`,
    },
    {
      name: "the queue was full (rows left after the run)",
      ok: left.open > 0,
      detail: `${left.open} rows left`,
    },
  ];
  return {
    name: "edge-cpu",
    quick: ctx.quick,
    tables: [{
      title: `One process-retries run at the defaults (pace ${DEFAULT_SEGMENTS_PER_SECOND}/s, ` +
        `batches of ${DEFAULT_BATCH_SIZE}, CPU plan ${DEFAULT_CPU_BUDGET_MS} ms = ` +
        `${defaults.maxRows} rows × ${DEFAULT_CPU_MS_PER_ROW} ms), ${int(rows)} due rows, on the ` +
        `edge runtime's Deno ${edgeDenoVersion()}` + (ctx.quick ? " (quick: budgetMs 3000)" : ""),
      columns: [
        "claimed",
        "sent",
        "deferred",
        "rows left",
        "seconds",
        "CPU ms",
        "CPU ms/row",
        "of 2,000 ms",
        "boot + first call CPU ms",
      ],
      rows: [[
        int(a.claimed),
        int(a.sent),
        int(a.deferred),
        int(left.open),
        fmt(seconds),
        fmt(runCpuMs),
        fmt(cpuPerRow),
        `${fmt(ratio * 100)}%`,
        fmt(warmCpuMs),
      ]],
    }],
    ratio,
    target: TARGET,
    direction: "atMost",
    ratioMeaning: `CPU ms of one run at the defaults over the platform's ` +
      `${FREE_PLAN_LIMITS.cpuHardMs} ms limit`,
    checks,
    notes: [
      "CPU of the function's workers' JavaScript thread (/proc), the run alone; the worker's " +
      "boot and its first call (empty queue, opens the pool) are the last column",
      `sandbox latency: median ${LATENCY.latencyMs} ms, 99th percentile ${LATENCY.latencyP99Ms} ms`,
    ],
    figures: {
      rows,
      answer: a,
      seconds,
      runCpuMs,
      cpuPerRow,
      warmCpuMs,
      rowsLeft: left.open,
      created,
      cpuShare: ratio,
    },
  };
}

export const benchmark: Benchmark = {
  name: "edge-cpu",
  description: "CPU of one process-retries run at the defaults with a full queue vs the 2 s limit",
  run,
};
