/**
 * `send-sms`: 2,000 requests from 16 concurrent clients through the gateway (the sandbox answering
 * at once), every one a real send to a different customer at midday: p50, p99 and requests per
 * second, against `naive-send` (a fixture: the first version of a send a user would write, on the
 * same gateway with the same JWT check, the same driver and pool (shared/runtime/db.ts) and the
 * same Twilio client and request, StatusCallback included: read the customer, insert a send log,
 * call Twilio, update the log; no compliance). The sandbox's status callbacks to twilio-webhook
 * are held back in both runs of the full form (10 minutes, so the webhook's work does not share
 * the two cores with the measured requests) and on in both in the quick form. The two loads run
 * in alternating rounds of 250 (naive-send first in the first round, send-sms first in the
 * next), so both see the machine at the same moments. The ratio is
 * send-sms's throughput over naive-send's, target ≥ 0.7 (compliance costs at most 30%). Also the
 * CPU per request by process, and the peak memory (VmHWM) of send-sms's process, target under
 * 150 MB.
 *
 * @module
 */
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt, int } from "./lib/report.ts";
import {
  ownerDb,
  restoreSandboxConfig,
  sandboxConfig,
  sandboxConfigNow,
  sandboxIdle,
  withCronPaused,
} from "./lib/stack.ts";
import { scratchTenant } from "./lib/tenant.ts";
import { closedLoop, joinLoads, type LoadResult } from "./lib/load.ts";
import { percentile } from "./lib/stats.ts";
import {
  childPids,
  cpuMeter,
  functionPid,
  postgresGroup,
  processMemory,
  stackPid,
  sumCpu,
  watchPeakMemory,
  type WorkersPeak,
} from "./lib/procs.ts";

const TARGET = 0.7;
const MEMORY_TARGET_MB = 150;
const CONCURRENCY = 16;
const BODY = "Hi, thanks for visiting Bench Dental today! How did we do? Reply STOP to opt out.";

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const total = ctx.quick ? 48 : 2_000;
  const warmup = ctx.quick ? 16 : 200;
  const rounds = ctx.quick ? 2 : 8;
  const sql = ownerDb(info, 4);
  const savedConfig = await sandboxConfigNow(info);
  const tenant = await scratchTenant(sql, info, "send-sms");
  const sendPort = info.functions.find((f) => f.name === "send-sms")?.port;
  const naivePort = info.functions.find((f) => f.name === "naive-send")?.port;
  if (!sendPort || !naivePort) {
    throw new Error("the stack serves no send-sms or no naive-send (tests/fixtures/supabase)");
  }
  let send: LoadResult;
  let naive: LoadResult;
  let sendCpu: Record<string, number> = {};
  let naiveCpu: Record<string, number> = {};
  let sandboxCount = new Map<string, number>();
  let peaks = new Map<number, WorkersPeak | null>();
  let customers: { id: string; phone: string }[] = [];
  let naiveCustomers: { id: string; phone: string }[] = [];
  const idlePid = functionPid(sendPort);
  const idleMem = idlePid ? processMemory(idlePid) : null;
  try {
    customers = await tenant.customers(warmup + total);
    naiveCustomers = await tenant.customers(warmup + total);
    // Latency 0; callbacks held back in the full form for both runs, on in the quick one.
    await sandboxConfig(info, { latencyMs: 0, ...(ctx.quick ? {} : { callbackDelayMs: 600_000 }) });
    const headers = {
      authorization: `Bearer ${tenant.token}`,
      "content-type": "application/json",
    };
    const post = (fn: string) => (customer: { id: string }) =>
      fetch(`${info.functionsUrl}/${fn}`, {
        method: "POST",
        headers,
        body: JSON.stringify({ customerId: customer.id, body: BODY }),
      });
    const sendTo = post("send-sms");
    const naiveTo = post("naive-send");
    const sentOk = (res: Response, body: string) =>
      res.status === 200 && JSON.parse(body).status === "sent";

    // Where each load's CPU goes: the ratio is a ratio of CPU per request once the cores are busy.
    // The stack's process, every worker's parent, found once: asked at a round's start while a
    // retired worker had no successor yet, it was missing, and the round's end then counted its
    // whole life (naive-send's gateway + sandbox read 3.1-3.3 ms a request in some runs).
    let host: number | null = null;
    const processes = (functionPort: number) => () => {
      host ??= stackPid([functionPort]);
      const fn = host === null ? functionPid(functionPort) : null;
      const postgres = postgresGroup(info.dataDir);
      return {
        postgres,
        host: { pids: host === null ? [] : [host] },
        // Every worker of the stack (the stack reaps them all), so that one retiring during a
        // round counts from where it stood at the start, whichever function it served. The other
        // functions are idle meanwhile: the column is this round's function.
        function: {
          pids: host === null
            ? (fn === null ? [] : [fn])
            : childPids(host).filter((pid) => !postgres.pids.includes(pid)),
          reaper: host ?? undefined,
        },
        client: { pids: [Deno.pid] },
      };
    };
    const memory = watchPeakMemory([sendPort, naivePort]);
    await withCronPaused(sql, async () => {
      ctx.log(`warm-up: ${warmup} requests each`);
      await closedLoop(warmup, CONCURRENCY, (i) => naiveTo(naiveCustomers[i]), sentOk);
      await closedLoop(warmup, CONCURRENCY, (i) => sendTo(customers[i]), sentOk);
      host ??= stackPid([sendPort, naivePort]);
      // In rounds, naive-send and send-sms in turn (ABBA): the machine's speed drifts over a
      // run (successive profiles of one code in one stack: 308, 288, 246 requests a second),
      // and whichever went second took all of the drift. Rounds of 250 kept a function's idle
      // spell (two of the other's rounds) under the sandbox's keep-alive when that was
      // node:http's 5 s (60 s now): with rounds of 500 a naive send now and then met a
      // connection the sandbox was closing ("connection reset by peer") and failed.
      ctx.log(`${total} requests each, ${CONCURRENCY} concurrent, in ${rounds} rounds`);
      const load = (port: number, to: typeof sendTo, list: { id: string }[]) => ({
        port,
        to,
        list,
        runs: [] as LoadResult[],
        cpu: [] as Record<string, number>[],
      });
      const naiveLoad = load(naivePort, naiveTo, naiveCustomers);
      const sendLoad = load(sendPort, sendTo, customers);
      for (let r = 0; r < rounds; r++) {
        const from = warmup + Math.floor((total * r) / rounds);
        const size = warmup + Math.floor((total * (r + 1)) / rounds) - from;
        for (const l of r % 2 === 0 ? [naiveLoad, sendLoad] : [sendLoad, naiveLoad]) {
          const meter = cpuMeter(processes(l.port));
          l.runs.push(await closedLoop(size, CONCURRENCY, (i) => l.to(l.list[from + i]), sentOk));
          l.cpu.push(meter.stop());
        }
      }
      naive = joinLoads(naiveLoad.runs);
      send = joinLoads(sendLoad.runs);
      naiveCpu = sumCpu(naiveLoad.cpu);
      sendCpu = sumCpu(sendLoad.cpu);
    }).finally(() => {
      peaks = memory.stop();
    });

    // What reached the sandbox for this tenant's numbers: one message each, never two.
    const phones = new Set([...customers, ...naiveCustomers].map((c) => c.phone));
    const messages = await (await fetch(`${info.sandboxUrl}/api/messages`)).json() as {
      to: string;
    }[];
    sandboxCount = new Map();
    for (const m of messages) {
      if (phones.has(m.to)) sandboxCount.set(m.to, (sandboxCount.get(m.to) ?? 0) + 1);
    }
    // Callbacks land before the tenants go (quick form; the full form holds them back).
    if (ctx.quick) await sandboxIdle(info);
  } finally {
    await restoreSandboxConfig(info, savedConfig);
    await tenant.drop().catch((e) => ctx.log(`cleanup: ${e.message}`));
    await sql.end({ timeout: 5 });
  }
  send = send!;
  naive = naive!;

  const sendMem = peaks.get(sendPort) ?? null;
  const naiveMem = peaks.get(naivePort) ?? null;
  const ratio = send.perSecond / naive.perSecond;
  const sent = send.statuses["200"] ?? 0;
  const duplicates = [...sandboxCount.values()].filter((n) => n > 1).length;
  const received = [...sandboxCount.values()].reduce((a, n) => a + n, 0);

  const row = (label: string, r: LoadResult, mem: WorkersPeak | null) => [
    label,
    int(r.latenciesMs.length),
    Object.entries(r.statuses).map(([s, n]) => `${s}×${n}`).join(" "),
    fmt(percentile(r.latenciesMs, 50)),
    fmt(percentile(r.latenciesMs, 99)),
    int(r.perSecond),
    mem ? fmt(mem.peakMiB) : "n/a",
  ];
  const perRequest = (cpu: Record<string, number>) =>
    Object.fromEntries(Object.entries(cpu).map(([k, seconds]) => [k, (seconds * 1000) / total]));
  const naiveMs = perRequest(naiveCpu);
  const sendMs = perRequest(sendCpu);
  const cpuRow = (label: string, ms: Record<string, number>) => [
    label,
    ...["postgres", "host", "function", "client", "machine"].map((k) => fmt(ms[k] ?? 0)),
  ];
  const checks: Check[] = [
    {
      name: "every send answered 200 sent",
      ok: sent === total,
      detail: `${sent}/${total}` +
        (send.errors.length ? `; first: ${send.errors.join(" | ")}` : ""),
    },
    {
      name: "one SMS per request at the sandbox",
      ok: duplicates === 0 && received === 2 * (warmup + total),
      detail: `${received} messages for ${2 * (warmup + total)} requests (both functions), ` +
        `${duplicates} duplicated`,
    },
    {
      name: "every naive send answered 200 sent",
      ok: (naive.statuses["200"] ?? 0) === total,
      detail: `${naive.statuses["200"] ?? 0}/${total}` +
        (naive.errors.length ? `; first: ${naive.errors.join(" | ")}` : ""),
    },
  ];
  // The target is in MB (10^6 bytes); the figures are in MiB.
  const memOk = sendMem !== null && sendMem.peakMiB * 1.048576 < MEMORY_TARGET_MB;
  return {
    name: "send-sms",
    quick: ctx.quick,
    tables: [{
      title: `${int(total)} requests, ${CONCURRENCY} concurrent clients, through the gateway ` +
        `in ${rounds} alternating rounds (sandbox latency 0; after ${warmup} warm-up requests each)`,
      columns: ["function", "requests", "answers", "p50 ms", "p99 ms", "requests/s", "peak MiB"],
      rows: [
        row("naive-send (read, log, Twilio, update)", naive, naiveMem),
        row("send-sms (a real send each)", send, sendMem),
      ],
    }, {
      title: "CPU per request, ms (from /proc: user + system of each process; the machine's busy " +
        "time also holds the kernel's loopback network work)",
      columns: ["function", "Postgres", "gateway + sandbox", "function", "load client", "machine"],
      rows: [cpuRow("naive-send", naiveMs), cpuRow("send-sms", sendMs), [
        `send-sms at ${TARGET} × naive-send's rate`,
        "",
        "",
        "",
        "",
        `≤ ${fmt((naiveMs.machine ?? 0) / TARGET)}`,
      ]],
    }, {
      title: "Targets",
      columns: ["what", "value", "target", "met"],
      rows: [
        [
          "throughput, send-sms / naive-send",
          fmt(ratio),
          `≥ ${TARGET}`,
          ratio >= TARGET ? "yes" : "NO",
        ],
        [
          "peak memory of send-sms's process (VmHWM)",
          sendMem ? `${fmt(sendMem.peakMiB)} MiB` : "n/a",
          `< ${MEMORY_TARGET_MB} MB`,
          memOk ? "yes" : "NO",
        ],
      ],
    }],
    ratio,
    target: TARGET,
    direction: "atLeast",
    ratioMeaning: "requests/s of send-sms over naive-send (no compliance) on the same gateway",

    checks,
    notes: [
      `peak is the highest VmHWM of a function's workers, read every 100 ms from the warm-up on ` +
      `(workers: send-sms ${sendMem?.workers ?? 0}, naive-send ${naiveMem?.workers ?? 0}; the ` +
      "platform's CPU limit retires them)" +
      (ctx.quick ? " (a shared stack: includes earlier tests)" : "") +
      (idleMem
        ? `; send-sms before the benchmark: ${fmt(idleMem.rssMiB)} MiB resident, ` +
          `${fmt(idleMem.peakMiB)} MiB peak`
        : ""),
    ],
    figures: {
      total,
      concurrency: CONCURRENCY,
      send: {
        perSecond: send.perSecond,
        p50: percentile(send.latenciesMs, 50),
        p99: percentile(send.latenciesMs, 99),
        statuses: send.statuses,
      },
      naive: {
        perSecond: naive.perSecond,
        p50: percentile(naive.latenciesMs, 50),
        p99: percentile(naive.latenciesMs, 99),
      },
      cpuMsPerRequest: { naive: naiveMs, send: sendMs },
      sendMemory: sendMem,
      sendMemoryBefore: idleMem,
      naiveMemory: naiveMem,
      memoryTargetMet: memOk,
      duplicates,
    },
  };
}

export const benchmark: Benchmark = {
  name: "send-sms",
  description: "send-sms throughput and latency vs a naive send, and its peak memory",
  run,
};
