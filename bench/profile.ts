/**
 * A CPU profile of one function under load, to find what costs the time (docs/performance.md
 * quotes it). Not a benchmark: starts a fresh process of the function as the stack does but with
 * the V8 inspector on, drives it with real requests straight to its port, and prints where the
 * samples fell (self time by package or file, and by function).
 *
 * Usage: deno run -A bench/profile.ts <send-sms|process-retries> --stack=<stack.json>
 *        [--requests=N] [--concurrency=N] [--v8=<V8 flags for the function, comma-separated>]
 *
 * @module
 */
import type { StackInfo } from "@local/stack.ts";
import { functionArgs } from "@local/functions.ts";
import { freePort } from "@local/ports.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import {
  ownerDb,
  restoreSandboxConfig,
  sandboxConfig,
  sandboxConfigNow,
  withCronPaused,
} from "./lib/stack.ts";
import { scratchTenant } from "./lib/tenant.ts";
import { closedLoop } from "./lib/load.ts";
import { stackFunctionEnv } from "./cold-start.ts";
import { sleep } from "./lib/stats.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function flag(name: string): string | undefined {
  const hit = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

/** npm package (name@version) or project file of a script URL. */
function owner(url: string): string {
  const npm = /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+\/[^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1].replace(/\/(?=[^/]+$)/, "@")}`;
  if (url.startsWith("file://")) return url.replace(`file://${PROJECT_ROOT}/`, "");
  if (url.startsWith("ext:") || url.startsWith("node:")) return url.split("/")[0];
  return url || "(native / GC / idle)";
}

async function inspectorSocket(port: number): Promise<WebSocket> {
  for (let i = 0; i < 200; i++) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      const ws = new WebSocket(list[0].webSocketDebuggerUrl);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      return ws;
    } catch {
      await sleep(25);
    }
  }
  throw new Error("no inspector");
}

function rpc(ws: WebSocket) {
  let id = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)!(msg.result);
  };
  return (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
}

const name = Deno.args.find((a) => !a.startsWith("--")) ?? "send-sms";
const info = JSON.parse(await Deno.readTextFile(flag("stack")!)) as StackInfo;
const requests = Number(flag("requests") ?? 500);
const concurrency = Number(flag("concurrency") ?? 16);
const env = { ...stackFunctionEnv(info), SMS_MAX_SEGMENTS_PER_SECOND: "10000" };
const port = freePort();
const inspectPort = freePort();
const child = new Deno.Command(Deno.execPath(), {
  args: functionArgs(port, join(PROJECT_ROOT, "supabase", "functions", name, "index.ts"), {
    denoFlags: [
      `--inspect=127.0.0.1:${inspectPort}`,
      ...(flag("v8") ? [`--v8-flags=${flag("v8")}`] : []),
    ],
  }),
  clearEnv: true,
  env,
  stdin: "null",
  stdout: "null",
  stderr: "null",
}).spawn();
const sql = ownerDb(info, 2);
const saved = await sandboxConfigNow(info);
const tenant = await scratchTenant(sql, info, "profile");
try {
  const ws = await inspectorSocket(inspectPort);
  const call = rpc(ws);
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await sleep(25);
    }
  }
  await sandboxConfig(info, { latencyMs: 0, callbackDelayMs: 600_000 });
  const customers = await tenant.customers(requests + 50);
  const body = "Hi, thanks for visiting Bench Dental! How did we do? Reply STOP to opt out.";
  const send = (i: number) =>
    name === "send-sms"
      ? fetch(`http://127.0.0.1:${port}/send-sms`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenant.token}`, "content-type": "application/json" },
        body: JSON.stringify({ customerId: customers[i].id, body }),
      })
      : fetch(`http://127.0.0.1:${port}/process-retries`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${info.processRetriesSecret}`,
          "content-type": "application/json",
        },
        body: "{}",
      });
  await withCronPaused(sql, async () => {
    if (name === "process-retries") {
      await sql`
        select sms.enqueue_retry(p_customer_id => c.id, p_body => ${body},
                 p_reason => 'quiet_hours', p_scheduled_for => now() - interval '1 second')
          from unnest(${customers.map((c) => c.id)}::uuid[]) as c (id)`;
    }
    // Warm up (JIT, pool, twilio's lazy import), then profile.
    if (name === "send-sms") {
      await closedLoop(50, concurrency, (i) => send(requests + i), (r) => r.ok);
    }
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: 200 });
    await call("Profiler.start");
    const cpuMs = async () => {
      const f = (await Deno.readTextFile(`/proc/${child.pid}/stat`)).split(") ")[1].split(" ");
      return (Number(f[11]) + Number(f[12])) * 10;
    };
    const cpu0 = await cpuMs();
    const t0 = performance.now();
    const load = name === "send-sms"
      ? await closedLoop(requests, concurrency, send, (r) => r.ok)
      : await closedLoop(1, 1, send, (r) => r.ok);
    const seconds = (performance.now() - t0) / 1000;
    const { profile } = await call("Profiler.stop") as { profile: Profile };
    const usage = await call("Runtime.evaluate", {
      expression: "JSON.stringify(Deno.memoryUsage())",
      returnByValue: true,
    }) as { result: { value: string } };
    ws.close();
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<number, number>();
    for (let i = 0; i < profile.samples.length; i++) {
      self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + profile.timeDeltas[i]);
    }
    const byOwner = new Map<string, number>();
    const byFunction = new Map<string, number>();
    let total = 0;
    let idle = 0;
    for (const [id, us] of self) {
      const n = byId.get(id)!;
      const fnName = n.callFrame.functionName || "(anonymous)";
      if (fnName === "(idle)" || fnName === "(program)") {
        idle += fnName === "(idle)" ? us : 0;
      }
      total += us;
      const o = fnName === "(idle)" ? "(idle)" : owner(n.callFrame.url);
      byOwner.set(o, (byOwner.get(o) ?? 0) + us);
      const key = `${fnName} ${owner(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    }
    const busy = total - idle;
    console.log(
      `${name}: ${load.latenciesMs.length} requests in ${seconds.toFixed(2)} s ` +
        `(${(load.latenciesMs.length / seconds).toFixed(0)}/s), statuses ${
          JSON.stringify(load.statuses)
        }; CPU busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled ` +
        `= ${(busy / 1000 / load.latenciesMs.length).toFixed(2)} ms per request`,
    );
    const top = (m: Map<string, number>, n: number) =>
      [...m].filter(([k]) => !k.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, n)
        .map(([k, us]) => `  ${(100 * us / busy).toFixed(1).padStart(5)}%  ${k}`).join("\n");
    const cpu = await cpuMs() - cpu0;
    console.log(
      `process CPU (utime + stime): ${cpu} ms = ${(cpu / load.latenciesMs.length).toFixed(2)} ms ` +
        `per request`,
    );
    const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
    console.log(`peak memory (VmHWM): ${/VmHWM:\s*(\d+)/.exec(status)?.[1]} kB`);
    console.log(`memory after the load (bytes): ${usage.result.value}`);
    console.log(`\nself time by package or file (share of busy time):\n${top(byOwner, 20)}`);
    console.log(`\nself time by function:\n${top(byFunction, 30)}`);
  });
} finally {
  await restoreSandboxConfig(info, saved);
  child.kill("SIGTERM");
  await child.status;
  await tenant.drop();
  await sql.end();
}
