/**
 * `cold-start`: from process start to the first successful answer, for each function against
 * hello-world (a fixture). Each run spawns a fresh function process the way the stack does
 * (local/functions.ts's FunctionProcess: local/function-host.ts, the same flags and the very
 * environment the stack gave its functions) and polls it with a real request every few
 * milliseconds:
 *
 * - hello-world: GET → 200;
 * - send-sms: a real send to a customer at midday → 200 sent (so twilio's lazy import counts);
 * - twilio-webhook: a signed status callback for that message → 200 TwiML;
 * - process-retries: the cron call with one due row queued → 200 with it sent;
 * - campaigns: a preview of a one-recipient campaign → 200.
 *
 * Every process runs on the edge runtime's Deno (FunctionProcess boots its workers with
 * local/edge-deno.ts's binary, the version package.json pins), as the stack's functions do.
 *
 * Median of several runs. Budgets over hello-world: 250 ms for send-sms and process-retries,
 * 100 ms for twilio-webhook; campaigns is reported without one (issue 21 set none). The ratio is
 * the worst function's extra time over its budget (at most 1 meets the target).
 *
 * @module
 */
import { functionEnv, type StackInfo } from "@local/stack.ts";
import { FunctionProcess } from "@local/functions.ts";
import { edgeDenoPath, edgeDenoVersion } from "@local/edge-deno.ts";
import { freePort } from "@local/ports.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { computeTwilioSignature } from "@shared/twilio/signature.ts";
import type { BenchContext, Benchmark } from "./main.ts";
import { type BenchResult, type Check, fmt } from "./lib/report.ts";
import { fenceOtherRetries, ownerDb, withCronPaused } from "./lib/stack.ts";
import { type ScratchTenant, scratchTenant } from "./lib/tenant.ts";
import { median, sleep } from "./lib/stats.ts";
import { functionPid, processEnv } from "./lib/procs.ts";

const BUDGET_MS: Record<string, number> = {
  "send-sms": 250,
  "process-retries": 250,
  "twilio-webhook": 100,
};
const FUNCTIONS = [
  "hello-world",
  "send-sms",
  "twilio-webhook",
  "process-retries",
  "campaigns",
] as const;
type Fn = typeof FUNCTIONS[number];

/** The environment the stack gives its functions (read from a running one), else rebuilt. */
export function stackFunctionEnv(info: StackInfo): Record<string, string> {
  for (const f of info.functions) {
    const pid = functionPid(f.port);
    if (pid) {
      try {
        return processEnv(pid);
      } catch {
        // not readable: rebuild below
      }
    }
  }
  return functionEnv(info);
}

function entryOf(name: Fn): string {
  return name === "hello-world"
    ? join(PROJECT_ROOT, "tests", "fixtures", "supabase", "functions", name, "index.ts")
    : join(PROJECT_ROOT, "supabase", "functions", name, "index.ts");
}

interface Probe {
  /** Makes the request (to the fresh process's port). */
  request(port: number): Promise<Response>;
  ok(res: Response, body: string): boolean;
}

interface Sample {
  /** Process start → port accepts connections. */
  listenMs: number;
  /** Process start → first successful answer. */
  answerMs: number;
}

/** Starts a fresh process for `name`, times it to its first good answer, stops it. */
async function coldStart(
  name: Fn,
  env: Record<string, string>,
  probe: Probe,
  log: (l: string) => void,
): Promise<Sample> {
  const port = freePort();
  const fp = new FunctionProcess(
    { name, entry: entryOf(name), verifyJwt: false },
    // Quiet: the functions' info logs would land in the middle of the report.
    { port, env, tag: "bench-cold-start", log, quiet: true },
  );
  const t0 = performance.now();
  const starting = fp.start();
  let listenMs = NaN;
  let lastError = "";
  try {
    while (performance.now() - t0 < 30_000) {
      let conn: Deno.TcpConn | null = null;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch {
        await sleep(2);
        continue;
      } finally {
        conn?.close();
      }
      if (Number.isNaN(listenMs)) listenMs = performance.now() - t0;
      const res = await probe.request(port);
      const body = await res.text();
      if (probe.ok(res, body)) return { listenMs, answerMs: performance.now() - t0 };
      lastError = `${res.status} ${body.slice(0, 300)}`;
      await sleep(2);
    }
    throw new Error(`${name} gave no good answer within 30 s (last: ${lastError})`);
  } finally {
    await starting.catch(() => {});
    await fp.stop();
  }
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const info = await ctx.stack();
  const runs = ctx.quick ? 1 : 7;
  const env = stackFunctionEnv(info);
  const sql = ownerDb(info, 2);
  const samples = new Map<Fn, Sample[]>(FUNCTIONS.map((f) => [f, []]));
  let tenant: ScratchTenant | null = null;
  try {
    tenant = await scratchTenant(sql, info, "cold-start");
    const t = tenant;
    const fence = await fenceOtherRetries(info, t.businessId);
    try {
      await withCronPaused(sql, async () => {
        for (let i = 0; i < runs; i++) {
          const [customer, queued] = await t.customers(2);
          ctx.log(`run ${i + 1}/${runs}`);
          let sid = `SM${crypto.randomUUID().replaceAll("-", "")}`;
          const probes: Record<Fn, Probe> = {
            "hello-world": {
              request: (port) => fetch(`http://127.0.0.1:${port}/hello-world`),
              ok: (res) => res.status === 200,
            },
            "send-sms": {
              request: (port) =>
                fetch(`http://127.0.0.1:${port}/send-sms`, {
                  method: "POST",
                  headers: {
                    authorization: `Bearer ${t.token}`,
                    "content-type": "application/json",
                  },
                  body: JSON.stringify({ customerId: customer.id, body: "Cold start check" }),
                }),
              ok: (res, body) => {
                if (res.status !== 200) return false;
                const answer = JSON.parse(body);
                if (answer.status === "sent") sid = answer.providerMessageId;
                return answer.status === "sent";
              },
            },
            "twilio-webhook": {
              request: async (port) => {
                const params = {
                  AccountSid: info.twilio.accountSid,
                  ApiVersion: "2010-04-01",
                  From: info.twilio.phoneNumber,
                  To: customer.phone,
                  MessageSid: sid,
                  SmsSid: sid,
                  MessageStatus: "sent",
                  SmsStatus: "sent",
                };
                const signature = await computeTwilioSignature(info.twilio.authToken, {
                  url: info.twilio.webhookUrl,
                  params,
                });
                return await fetch(`http://127.0.0.1:${port}/twilio-webhook`, {
                  method: "POST",
                  headers: {
                    "content-type": "application/x-www-form-urlencoded",
                    "x-twilio-signature": signature,
                  },
                  body: new URLSearchParams(params).toString(),
                });
              },
              ok: (res) => res.status === 200,
            },
            "process-retries": {
              request: (port) =>
                fetch(`http://127.0.0.1:${port}/process-retries`, {
                  method: "POST",
                  headers: {
                    authorization: `Bearer ${info.processRetriesSecret}`,
                    "content-type": "application/json",
                  },
                  body: JSON.stringify({}),
                }),
              ok: (res, body) => res.status === 200 && JSON.parse(body).sent >= 1,
            },
            campaigns: {
              request: (port) =>
                fetch(`http://127.0.0.1:${port}/campaigns`, {
                  method: "POST",
                  headers: {
                    authorization: `Bearer ${t.token}`,
                    "content-type": "application/json",
                  },
                  body: JSON.stringify({
                    action: "preview",
                    businessId: t.businessId,
                    template: "Hi {{first_name}}, thanks for visiting! How did we do?",
                    audience: { customerIds: [customer.id] },
                    schedule: { kind: "now" },
                  }),
                }),
              ok: (res, body) => res.status === 200 && JSON.parse(body).eligible === 1,
            },
          };
          // One due row for process-retries to send.
          await sql`
            select sms.enqueue_retry(
              p_customer_id => ${queued.id}::uuid, p_body => 'Cold start retry',
              p_reason => 'quiet_hours', p_scheduled_for => now() - interval '1 second')`;
          for (const name of FUNCTIONS) {
            samples.get(name)!.push(await coldStart(name, env, probes[name], ctx.log));
          }
        }
      });
    } finally {
      await fence.release();
    }
  } finally {
    await tenant?.drop().catch((e) => ctx.log(`cleanup: ${e.message}`));
    await sql.end({ timeout: 5 });
  }

  const med = (name: Fn, key: keyof Sample) => median(samples.get(name)!.map((s) => s[key]));
  const hello = med("hello-world", "answerMs");
  const rows = FUNCTIONS.map((name) => {
    const answer = med(name, "answerMs");
    const extra = answer - hello;
    const budget = BUDGET_MS[name];
    return {
      name,
      listen: med(name, "listenMs"),
      answer,
      extra,
      budget,
      use: budget ? Math.max(0, extra) / budget : null,
      all: samples.get(name)!.map((s) => Math.round(s.answerMs)),
    };
  });
  const worst = rows.filter((r) => r.use !== null).sort((a, b) => b.use! - a.use!)[0];
  const checks: Check[] = FUNCTIONS.map((name) => ({
    name: `${name} answered`,
    ok: samples.get(name)!.length === runs,
    detail: `${samples.get(name)!.length}/${runs} cold starts`,
  }));
  return {
    name: "cold-start",
    quick: ctx.quick,
    tables: [{
      title: `Process start → first successful answer, median of ${runs} cold start${
        runs > 1 ? "s" : ""
      }`,
      columns: [
        "function",
        "listening ms",
        "answered ms",
        "over hello-world ms",
        "budget ms",
        "budget used",
        "runs (ms)",
      ],
      rows: rows.map((r) => [
        r.name,
        fmt(r.listen),
        fmt(r.answer),
        r.name === "hello-world" ? "" : fmt(r.extra),
        r.budget ?? "",
        r.use === null ? "" : fmt(r.use),
        r.all.join(" "),
      ]),
    }],
    ratio: worst.use!,
    target: 1,
    direction: "atMost",
    ratioMeaning: `worst function's extra time over hello-world divided by its budget ` +
      `(${worst.name})`,
    checks,
    notes: [
      `on the edge runtime's Deno ${edgeDenoVersion()} (${edgeDenoPath()}); ` +
      "each process is started as the stack starts its functions (local/function-host.ts, " +
      "the stack's flags and environment); Deno's module and V8 code caches are warm, as they are " +
      "for a deployed function",
    ],
    figures: { runs, rows, deno: edgeDenoVersion() },
  };
}

export const benchmark: Benchmark = {
  name: "cold-start",
  description: "process start to first answer for each function vs hello-world",
  run,
};
