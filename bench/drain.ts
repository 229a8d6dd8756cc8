/**
 * `drain`: process-retries draining 3,000 due one-segment rows through the gateway at a pace limit
 * of 100 segments per second (`SMS_MAX_SEGMENTS_PER_SECOND=100`), the sandbox answering with a
 * realistic latency mix (log-normal, median 150 ms, 1% over 1.5 s) and a few 429s (Twilio error
 * 20429 "Too Many Requests", 0.5% of creates).
 *
 * The ratio is the achieved rate over the limit, target ≥ 0.95: the messages Twilio accepted on a
 * row's first request over the wall time from the first call to the drain's last first request.
 * The drain ends when no row is due or awaits its answer; what comes after the last request is
 * Twilio's latency (the slowest of 3,000 answers takes seconds), reported beside the ratio. A 429
 * is not a send: the row is deferred by process-retries's backoff (15–30 s for a first attempt,
 * checked here: pending, one attempt used, error 20429, not failed), and its slot is lost to the
 * rate. Its second request is the backoff's, not the pace's, even when it comes due while the
 * drain still awaits its slowest answers (the time to the last request of any kind is reported
 * beside). The benchmark does not wait the backoff out: it then makes those rows due (as the
 * clock would) and calls again, so
 * that every row is sent exactly once (0 duplicates) and no second carries more than the limit
 * (counted on the requests' arrival at the sandbox, before its latency).
 *
 * The process is the benchmark's own (bench/lib/retries.ts): the stack's runs at the default pace.
 * It is called once as pg_cron calls it (`{"chain": true}`); each run its CPU plan stops with rows
 * due starts the next through pg_net, as in a project (Vault's `project_url` points at this
 * process meanwhile). The benchmark only watches the queue, and calls again as the next cron tick
 * would if nothing moved for 5 s (a broken chain; counted in the table). One call on an empty
 * queue first opens its pool. The CPU of one run at the default settings is `edge-cpu`'s.
 *
 * @module
 */
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
  type Attempt,
  enqueueDue,
  queueLeft,
  type RecordedRun,
  type RetriesProcess,
  type RunAnswer,
  runsBetween,
  sandboxAttempts,
  startProcessRetries,
  withChainTarget,
} from "./lib/retries.ts";
import { sleep } from "./lib/stats.ts";
import { LATENCY } from "./edge-cpu.ts";
import { cpuMeter, postgresGroup } from "./lib/procs.ts";
import { retryConfigFromEnv } from "../supabase/functions/process-retries/config.ts";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

const TARGET = 0.95;
const PACE = 100;
/** Share of creates the sandbox answers 429 (the quick form's few rows get more, to see some). */
const RATE_429 = 0.005;
const RATE_429_QUICK = 0.05;
/** A first attempt's backoff is 15–30 s (shared/twilio/errors.ts retryDelayMs(1)). */
const MIN_BACKOFF_S = 14;
/** How long the queue may stand still before the benchmark calls as the next cron tick would. */
const STALL_MS = 5_000;

interface Deferred429 {
  id: string;
  attempts: number;
  waitS: number;
  status: string;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const rows = ctx.quick ? 60 : 3_000;
  const rate429 = ctx.quick ? RATE_429_QUICK : RATE_429;
  const defaults = retryConfigFromEnv({ SMS_MAX_SEGMENTS_PER_SECOND: String(PACE) });
  const sql = ownerDb(info, 4);
  const savedConfig = await sandboxConfigNow(info);
  const tenant = await scratchTenant(sql, info, "drain");
  // `--concurrency=N` (profiling only, not the headline): PROCESS_RETRIES_CONCURRENCY for the run.
  const concurrency = ctx.value("concurrency");
  let fn: RetriesProcess | null = null;
  let answers: RecordedRun[] = [];
  let cronCalls = 0;
  let cpuMs = NaN;
  const later: RunAnswer[] = [];
  let seconds = NaN;
  let fromMs = NaN;
  let totalSeconds = NaN;
  let phones = new Set<string>();
  let attempts: Attempt[] = [];
  let firstPass: Attempt[] = [];
  let deferred429: Deferred429[] = [];
  let left = { open: -1, due: -1, held: -1 };
  let machineCpu: Record<string, number> = {};
  const cores = navigator.hardwareConcurrency;
  /** Attempts used beyond the first, over every row, once all are sent. */
  let retriedAttempts = -1;
  let completed = -1;
  try {
    fn = await startProcessRetries(info, {
      SMS_MAX_SEGMENTS_PER_SECOND: String(PACE),
      ...(concurrency ? { PROCESS_RETRIES_CONCURRENCY: concurrency } : {}),
    }, { tag: "bench-drain", log: ctx.log });
    const f = fn;
    const customers = await tenant.customers(rows);
    phones = new Set(customers.map((c) => c.phone));
    const fence = await fenceOtherRetries(info, tenant.businessId);
    try {
      await withCronPaused(sql, async () => {
        await f.call();
        await sandboxConfig(info, {
          ...LATENCY,
          rate429,
          ...(ctx.quick ? {} : { callbackDelayMs: 600_000 }),
        });
        ctx.log(`queueing ${rows} due one-segment rows`);
        await enqueueDue(sql, customers.map((c) => c.id));
        const before = (await sandboxAttempts(info)).length;
        ctx.log(
          `draining at ${PACE} segments/s, sandbox latency median ${LATENCY.latencyMs} ms, ` +
            `p99 ${LATENCY.latencyP99Ms} ms, ${rate429 * 100}% 429s`,
        );
        const started = performance.now();
        const from = new Date();
        fromMs = from.getTime();
        // Where the machine's time goes while it drains: its cores serve Postgres, the
        // function, the gateway and the sandbox together.
        const meter = cpuMeter(() => ({ postgres: postgresGroup(info.dataDir) }));
        const cpu0 = f.cpuMs();
        await withChainTarget(sql, f.url, async () => {
          const cron = () => (cronCalls++, f.call({ chain: true }));
          let pending = cron();
          let open = -1;
          let movedAt = performance.now();
          for (;;) {
            left = await queueLeft(sql, tenant.businessId);
            if (left.due === 0 && left.held === 0) break;
            if (left.open !== open) [open, movedAt] = [left.open, performance.now()];
            else if (performance.now() - movedAt > STALL_MS) {
              await pending;
              pending = cron();
              movedAt = performance.now();
            }
            if (performance.now() - started > 600_000) break;
            await sleep(50);
          }
          await pending;
        });
        seconds = (performance.now() - started) / 1000;
        cpuMs = f.cpuMs() - cpu0;
        machineCpu = meter.stop();
        answers = await runsBetween(sql, from, new Date());
        firstPass = (await sandboxAttempts(info)).slice(before);
        // What the backoff did with the rate-limited rows, then the clock moved on for them.
        deferred429 = await sql<Deferred429[]>`
          select id, attempts, status,
                 extract(epoch from scheduled_for - updated_at)::float8 as "waitS"
            from sms.retry_queue
           where business_id = ${tenant.businessId} and last_error_code = 20429
             and status in ('pending', 'processing')`;
        await sandboxConfig(info, { rate429: 0 });
        await sql`
          update sms.retry_queue set scheduled_for = now() - interval '1 second'
           where business_id = ${tenant.businessId} and status = 'pending'`;
        for (let i = 0; i < 10 && left.open > 0; i++) {
          later.push(await f.call());
          left = await queueLeft(sql, tenant.businessId);
        }
        totalSeconds = (performance.now() - started) / 1000;
        [{ retriedAttempts, completed }] = await sql<
          { retriedAttempts: number; completed: number }[]
        >`
          select coalesce(sum(attempts - 1), 0)::int as "retriedAttempts",
                 (count(*) filter (where status = 'completed'))::int as completed
            from sms.retry_queue where business_id = ${tenant.businessId}`;
        attempts = (await sandboxAttempts(info)).slice(before);
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

  const ours = attempts.filter((a) => a.to !== null && phones.has(a.to));
  const firstPassOurs = firstPass.filter((a) => a.to !== null && phones.has(a.to));
  const created = ours.filter((a) => a.outcome === "created");
  const limited = ours.filter((a) => a.outcome === "rate_limited");
  // A latency drawn past the client's 15 s timeout (about 1 in 610,000 at this mix): the request
  // goes unanswered, its row is uncertain, looked up and sent again, with one attempt more.
  const unanswered = ours.filter((a) => a.outcome === "timeout");
  const perPhone = new Map<string, number>();
  for (const a of created) perPhone.set(a.to!, (perPhone.get(a.to!) ?? 0) + 1);
  const duplicates = [...perPhone.values()].filter((n) => n > 1).length;
  // The pace is the sender's: every create request counts, answered or not.
  const arrival = (a: typeof firstPassOurs[number]) => Date.parse(a.receivedAt ?? a.at);
  const byArrival = [...firstPassOurs].sort((a, b) => arrival(a) - arrival(b));
  const times = byArrival.map(arrival);
  // `--timeline=<file>` (profiling): every create's arrival at the sandbox, for a timeline.
  const timeline = ctx.value("timeline");
  if (timeline) await Deno.writeTextFile(timeline, JSON.stringify({ fromMs, times }));
  let busiestSecond = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= 1000) j++;
    busiestSecond = Math.max(busiestSecond, i - j + 1);
  }
  const sum = (list: RunAnswer[], k: keyof RunAnswer) => list.reduce((s, r) => s + r[k], 0);
  // Counted where Twilio accepted them: a run still waiting for rows to come due has not
  // recorded its sends yet.
  const sent = firstPassOurs.filter((a) => a.outcome === "created").length;
  // The drain is each row's first request. A row a 429 deferred that came due while the drain
  // still awaited its slowest answers went out then, seconds after the rest (0 to 5 s more in
  // runs of one day): its second request is the backoff's, not the pace's (reported beside).
  const tried = new Set<string>();
  const firsts = byArrival.filter((a) => !tried.has(a.to!) && tried.add(a.to!));
  const firstTimes = firsts.map(arrival);
  const sentFirst = firsts.filter((a) => a.outcome === "created").length;
  const sentLater = created.length - sentFirst;
  // The drain's time is the sender's: from the first call to its last request. The answers still
  // awaited then (the slowest of 3,000 comes seconds later) are Twilio's latency, not the pace.
  const handOverSeconds = firstTimes.length > 0
    ? (firstTimes[firstTimes.length - 1] - fromMs) / 1000
    : NaN;
  const lastRequestSeconds = times.length > 0 ? (times[times.length - 1] - fromMs) / 1000 : NaN;
  const rate = sentFirst / handOverSeconds;
  const steady = firstTimes.length > 1
    ? (firstTimes.length - 1) / ((firstTimes[firstTimes.length - 1] - firstTimes[0]) / 1000)
    : NaN;
  const ratio = rate / PACE;
  const limitedFirstPass = firstPassOurs.filter((a) => a.outcome === "rate_limited").length;
  const checks: Check[] = [
    {
      name: "every row sent",
      ok: sentFirst + sentLater === rows && left.open === 0 && perPhone.size === rows,
      detail: `${sentFirst} sent on a row's first request and ${sentLater} after the backoff, ` +
        `${perPhone.size}/${rows} numbers reached, ${left.open} left`,
    },
    {
      name: "no duplicates",
      ok: duplicates === 0 && created.length === rows,
      detail: `${duplicates} numbers got more than one message (${created.length} created)`,
    },
    {
      name: "a 429 defers the row (backoff, one attempt used), never fails it",
      // Each 429 cost its row one attempt and came back later (within the drain when it outlasts
      // the backoff); those still waiting when no row was due had a backoff of 15 s or more.
      ok: retriedAttempts === limited.length + unanswered.length && completed === rows &&
        sum([...answers, ...later], "failed") === 0 &&
        deferred429.every((d) => d.waitS >= MIN_BACKOFF_S),
      detail: `${limited.length} answered 429 (${limitedFirstPass} in the drain), ` +
        (unanswered.length ? `${unanswered.length} unanswered (the client's timeout), ` : "") +
        `${retriedAttempts} attempts beyond the first, ${completed}/${rows} completed; ` +
        `${deferred429.length} still in backoff when no row was due` +
        (deferred429.length
          ? ` by ${fmt(Math.min(...deferred429.map((d) => d.waitS)))}–` +
            `${fmt(Math.max(...deferred429.map((d) => d.waitS)))} s`
          : "") +
        `, ${sum(answers, "failed")} failed`,
    },
    {
      name: "pace kept",
      // One slot of slack: requests reach the sandbox with some network jitter after their slot.
      ok: busiestSecond <= PACE + 1,
      detail: `at most ${busiestSecond} create requests in any one second (limit ${PACE})`,
    },
  ];
  return {
    name: "drain",
    quick: ctx.quick,
    tables: [{
      title: `Drain ${int(rows)} due one-segment rows: pace ${PACE} segments/s, sandbox latency ` +
        `median ${LATENCY.latencyMs} ms / p99 ${LATENCY.latencyP99Ms} ms, ${rate429 * 100}% 429s`,
      columns: [
        "runs (cron calls)",
        "claimed",
        "sent",
        "deferred (429)",
        "failed",
        "seconds to the last first request",
        "sent/s",
        "seconds to the last request (re-sends too)",
        "first→last request /s",
        "busiest second",
        "sent after backoff",
        "duplicates",
      ],
      rows: [[
        `${answers.length} (${cronCalls})`,
        int(sum(answers, "claimed")),
        int(sentFirst),
        `${int(sum(answers, "deferred"))} (${limited.length})`,
        int(sum(answers, "failed")),
        fmt(handOverSeconds),
        fmt(rate),
        fmt(lastRequestSeconds),
        fmt(steady),
        busiestSecond,
        int(sentLater),
        duplicates,
      ]],
    }, {
      title: `Per run (each starts at most ${defaults.maxRows} rows: its CPU plan, ` +
        `${defaults.maxRows} × ${defaults.cpuMsPerRow} ms; one cut by it with rows due starts the ` +
        "next)",
      columns: [
        "runs",
        "sent per run",
        "ms per run (mean)",
        "sending at the pace would take ms",
        "CPU ms per run (mean)",
        "machine busy (Postgres) over the drain",
      ],
      rows: [[
        answers.length,
        fmt(sent / Math.max(1, answers.length)),
        fmt(mean(answers.map((c) => c.ms))),
        fmt((sent / Math.max(1, answers.length)) * 1000 / PACE),
        fmt(cpuMs / Math.max(1, answers.length)),
        `${fmt((machineCpu.machine ?? 0) / seconds / cores * 100)}% of ${cores} cores ` +
        `(${fmt((machineCpu.postgres ?? 0) / seconds * 100)}% of one core)`,
      ]],
    }, {
      title: "After the last request",
      columns: [
        "until no row is due or awaits its answer, s",
        "whole drain with the rows a 429 deferred, s",
      ],
      rows: [[fmt(seconds - handOverSeconds), fmt(totalSeconds)]],
    }],
    ratio,
    target: TARGET,
    direction: "atLeast",
    ratioMeaning: `messages Twilio accepted on a row's first request per second (first call ` +
      `until the last such request) over the pace limit ${PACE}/s`,
    checks,
    notes: [
      "process-retries with the stack's environment plus SMS_MAX_SEGMENTS_PER_SECOND=100 (" +
      (concurrency
        ? `and PROCESS_RETRIES_CONCURRENCY=${concurrency}: a profiling run, not the headline`
        : "its other settings at their defaults") +
      "), behind its own instance of the stack's gateway",
      "the drain ends when no row is due or awaits its answer; the rate counts its time to the " +
      "last row's first request, its end being Twilio's latency, and a 429'd row's second request " +
      "the backoff's (docs/decisions.md)",
    ],
    figures: {
      rows,
      pace: PACE,
      latency: LATENCY,
      rate429,
      answers,
      later,
      seconds,
      handOverSeconds,
      lastRequestSeconds,
      totalSeconds,
      rate,
      steady,
      busiestSecond,
      duplicates,
      machineCpu,
      rateLimited: limited.length,
      deferred429: deferred429.length,
      retriedAttempts,
      cronCalls,
      cpuMs,
    },
  };
}

export const benchmark: Benchmark = {
  name: "drain",
  description: "process-retries draining 3,000 due rows at 100 segments/s, realistic sandbox",
  run,
};
