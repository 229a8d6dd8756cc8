/**
 * `drain`: process-retries draining 3,000 due one-segment rows through the gateway, the sandbox
 * answering each send after 100 ms, the pace limit 100 segments per second
 * (`SMS_MAX_SEGMENTS_PER_SECOND=100`). The ratio is the achieved rate (rows sent over the wall
 * time from the first call to the empty queue) over the limit, target ≥ 0.9; every row must be
 * sent exactly once, and no second may carry more than the limit. It also reports the CPU a row
 * costs the function on the edge runtime's Deno (its workers' JavaScript thread, from /proc) and
 * what one cron run at the default settings costs against the platform's 2 s CPU limit.
 *
 * The stack's own process-retries runs with the default pace (10/s), and a request may only make
 * it stricter; so this benchmark starts a process-retries of its own exactly as the stack starts
 * functions (the stack's environment plus the pace limit) behind a gateway of its own (the
 * stack's gateway code, local/gateway.ts), and calls it as pg_cron does (`POST` with the cron
 * secret and `{}`), again at once whenever a run ends with rows left (the cron would call a minute
 * later).
 *
 * @module
 */
import { FunctionProcess } from "@local/functions.ts";
import { FREE_PLAN_LIMITS } from "@local/limits.ts";
import {
  DEFAULT_CPU_MS_PER_ROW,
  finishReserveMs,
  retryConfigFromEnv,
} from "../supabase/functions/process-retries/config.ts";
import { startGateway } from "@local/gateway.ts";
import { freePort } from "@local/ports.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt, int } from "./lib/report.ts";
import {
  fenceOtherRetries,
  ownerDb,
  sandboxConfig,
  sandboxConfigNow,
  withCronPaused,
} from "./lib/stack.ts";
import { scratchTenant } from "./lib/tenant.ts";
import { stackFunctionEnv } from "./cold-start.ts";
import { sleep } from "./lib/stats.ts";

const TARGET = 0.9;
/** Largest share of the platform's CPU limit one run at the defaults may use (issue 17). */
const CPU_SHARE_TARGET = 0.6;
const PACE = 100;
const LATENCY_MS = 100;
const BODY = "Hi, thanks for visiting Bench Dental! How did we do? Reply STOP to opt out.";

interface RunAnswer {
  claimed: number;
  sent: number;
  deferred: number;
  failed: number;
  skipped: number;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const rows = ctx.quick ? 60 : 3_000;
  const sql = ownerDb(info, 4);
  const savedConfig = await sandboxConfigNow(info);
  const tenant = await scratchTenant(sql, info, "drain");
  const entry = join(PROJECT_ROOT, "supabase", "functions", "process-retries", "index.ts");
  try {
    await Deno.stat(entry);
  } catch {
    await tenant.drop();
    await sql.end();
    throw new Error(`${entry} does not exist yet`);
  }
  // `--concurrency=N` (profiling only, not the headline): PROCESS_RETRIES_CONCURRENCY for the run.
  const concurrency = ctx.value("concurrency");
  const env: Record<string, string> = {
    ...stackFunctionEnv(info),
    SMS_MAX_SEGMENTS_PER_SECOND: String(PACE),
    ...(concurrency ? { PROCESS_RETRIES_CONCURRENCY: concurrency } : {}),
  };
  const fn = new FunctionProcess(
    { name: "process-retries", entry, verifyJwt: false },
    { port: freePort(), env, tag: "bench-drain", log: ctx.log },
  );
  const jwks = await (await fetch(info.jwksUrl)).json();
  const gatewayPort = freePort();
  let gateway: Deno.HttpServer | null = null;
  const answers: RunAnswer[] = [];
  let seconds = NaN;
  let phones = new Set<string>();
  let attempts: { at: string; outcome: string; to: string | null }[] = [];
  let remaining = -1;
  let cpuMs = NaN;
  try {
    await fn.start();
    gateway = startGateway({ port: gatewayPort, jwks, functions: [fn] });
    const customers = await tenant.customers(rows);
    phones = new Set(customers.map((c) => c.phone));
    const fence = await fenceOtherRetries(info, tenant.businessId);
    try {
      await withCronPaused(sql, async () => {
        const call = async () => {
          const res = await fetch(`http://127.0.0.1:${gatewayPort}/functions/v1/process-retries`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${info.processRetriesSecret}`,
              "content-type": "application/json",
            },
            body: "{}",
          });
          const text = await res.text();
          if (res.status !== 200) throw new Error(`process-retries: ${res.status} ${text}`);
          return JSON.parse(text) as RunAnswer;
        };
        // The process is up but has done nothing yet: one run on an empty queue (for this
        // tenant) opens its pool, as the cron's previous minute would have.
        await call();
        await sandboxConfig(info, {
          latencyMs: LATENCY_MS,
          ...(ctx.quick ? {} : { callbackDelayMs: 600_000 }),
        });
        ctx.log(`queueing ${rows} due one-segment rows`);
        await sql`
          select sms.enqueue_retry(
                   p_customer_id => c.id, p_body => ${BODY}, p_reason => 'quiet_hours',
                   p_scheduled_for => now() - interval '1 second', p_segments => 1,
                   p_encoding => 'GSM-7')
            from unnest(${customers.map((c) => c.id)}::uuid[]) as c (id)`;
        const startAttempts = await (await fetch(`${info.sandboxUrl}/api/attempts`)).json() as {
          at: string;
        }[];
        ctx.log(`draining at ${PACE} segments/s, sandbox latency ${LATENCY_MS} ms`);
        const started = performance.now();
        const cpuBefore = fn.cpuMs();
        for (let i = 0; i < 20; i++) {
          const answer = await call();
          answers.push(answer);
          const [{ n }] = await sql<{ n: number }[]>`
            select count(*)::int as n from sms.retry_queue
             where business_id = ${tenant.businessId} and status in ('pending', 'processing')`;
          remaining = n;
          if (n === 0) break;
        }
        seconds = (performance.now() - started) / 1000;
        cpuMs = fn.cpuMs() - cpuBefore;
        attempts = (await (await fetch(`${info.sandboxUrl}/api/attempts`)).json() as {
          at: string;
          outcome: string;
          to: string | null;
        }[]).slice(startAttempts.length);
      });
    } finally {
      await fence.release();
    }
    if (ctx.quick) await sleep(500); // let the callbacks land before the tenant goes
  } finally {
    const { reset: _r, ...restore } = savedConfig as Record<string, unknown>;
    await sandboxConfig(info, restore).catch(() => {});
    await gateway?.shutdown();
    await fn.stop();
    await tenant.drop().catch((e) => ctx.log(`cleanup: ${e.message}`));
    await sql.end({ timeout: 5 });
  }

  const ours = attempts.filter((a) => a.to !== null && phones.has(a.to));
  const created = ours.filter((a) => a.outcome === "created");
  const perPhone = new Map<string, number>();
  for (const a of created) perPhone.set(a.to!, (perPhone.get(a.to!) ?? 0) + 1);
  const duplicates = [...perPhone.values()].filter((n) => n > 1).length;
  const times = created.map((a) => Date.parse(a.at)).sort((a, b) => a - b);
  let busiestSecond = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= 1000) j++;
    busiestSecond = Math.max(busiestSecond, i - j + 1);
  }
  const sent = answers.reduce((a, r) => a + r.sent, 0);
  const rate = sent / seconds;
  const steady = times.length > 1
    ? (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000)
    : NaN;
  const ratio = rate / PACE;
  // What one cron run costs at the defaults: the rows it may start (its CPU budget over the
  // estimate per row, and no more than the default pace fits in its send window), each at the
  // CPU per row measured here on the edge runtime's Deno, against the platform's 2 s.
  const defaults = retryConfigFromEnv({});
  const cpuPerRow = cpuMs / sent;
  const pacedRows = Math.floor(
    ((defaults.budgetMs - finishReserveMs(defaults)) / 1000) * defaults.segmentsPerSecond,
  ) + 1;
  const rowsPerRun = Math.min(defaults.maxRows, pacedRows);
  const runCpuMs = rowsPerRun * cpuPerRow;
  const cpuShare = runCpuMs / FREE_PLAN_LIMITS.cpuHardMs;
  const checks: Check[] = [
    {
      name: "every row sent",
      ok: sent === rows && remaining === 0 && created.length === rows,
      detail: `${sent}/${rows} sent, ${created.length} reached the sandbox, ${remaining} left`,
    },
    {
      name: "no duplicates",
      ok: duplicates === 0,
      detail: `${duplicates} numbers got more than one message`,
    },
    {
      name: "pace kept",
      // One slot of slack: the sandbox stamps after its 100 ms latency, which jitters.
      ok: busiestSecond <= PACE + 1,
      detail: `at most ${busiestSecond} sends in any one second (limit ${PACE})`,
    },
  ];
  // A speed target, not correctness: the quick form's few rows run on a cold JIT.
  if (!ctx.quick) {
    checks.push(
      {
        name: "a default run fits the CPU limit",
        ok: cpuShare <= CPU_SHARE_TARGET && cpuPerRow <= DEFAULT_CPU_MS_PER_ROW,
        detail: `${fmt(cpuPerRow)} ms of CPU a row (estimate ${DEFAULT_CPU_MS_PER_ROW} ms); ` +
          `${rowsPerRun} rows a run → ${fmt(runCpuMs)} ms, ${fmt(cpuShare * 100)}% of ` +
          `${FREE_PLAN_LIMITS.cpuHardMs} ms (target ≤ ${CPU_SHARE_TARGET * 100}%)`,
      },
    );
  }
  return {
    name: "drain",
    quick: ctx.quick,
    tables: [{
      title: `Drain ${int(rows)} due one-segment rows: pace ${PACE} segments/s, sandbox latency ` +
        `${LATENCY_MS} ms`,
      columns: [
        "calls",
        "claimed",
        "sent",
        "deferred",
        "failed",
        "skipped",
        "seconds",
        "sent/s",
        "first→last send /s",
        "busiest second",
        "duplicates",
        "CPU ms/row",
        "rows/run (defaults)",
        "CPU ms/run",
      ],
      rows: [[
        answers.length,
        int(answers.reduce((a, r) => a + r.claimed, 0)),
        int(sent),
        int(answers.reduce((a, r) => a + r.deferred, 0)),
        int(answers.reduce((a, r) => a + r.failed, 0)),
        int(answers.reduce((a, r) => a + r.skipped, 0)),
        fmt(seconds),
        fmt(rate),
        fmt(steady),
        busiestSecond,
        duplicates,
        fmt(cpuPerRow),
        rowsPerRun,
        fmt(runCpuMs),
      ]],
    }],
    ratio,
    target: TARGET,
    direction: "atLeast",
    ratioMeaning: `rows sent per second (first call to empty queue) over the pace limit ${PACE}/s`,
    checks,
    notes: [
      "process-retries with the stack's environment plus SMS_MAX_SEGMENTS_PER_SECOND=100 (" +
      (concurrency
        ? `and PROCESS_RETRIES_CONCURRENCY=${concurrency}: a profiling run, not the headline`
        : "its other settings at their defaults") +
      "), behind its own instance of the stack's gateway",
    ],
    figures: {
      rows,
      pace: PACE,
      latencyMs: LATENCY_MS,
      answers,
      seconds,
      rate,
      steady,
      busiestSecond,
      duplicates,
      cpuMs,
      cpuPerRow,
      rowsPerRun,
      runCpuMs,
      cpuShare,
    },
  };
}

export const benchmark: Benchmark = {
  name: "drain",
  description: "process-retries draining 3,000 due rows at 100 segments/s, sandbox 100 ms",
  run,
};
