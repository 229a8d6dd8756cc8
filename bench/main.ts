/**
 * `npm run bench -- <name> [--quick] [--stack=<stack.json>] [--json=<file>]`: runs one benchmark
 * (or `all`), prints its tables and ends with `<name>: ratio <x> (target <y>)`.
 *
 * - `--quick`: a small form that checks the benchmark works (`npm test` runs it), not the speed.
 * - `--stack=<stack.json>` (or `STACK_JSON`): reuse a running stack; otherwise benchmarks that
 *   need one start a throwaway stack in a child process and stop it afterwards, one stack for
 *   each benchmark of `all`, so none runs in what the one before left behind (its vacuum, its
 *   held-back callbacks).
 * - `--json=<file>`: also write the result (figures and checks) as JSON.
 *
 * Exits 1 when a correctness check fails (disagreement, duplicates, errors); a missed speed
 * target is reported, not an error.
 *
 * @module
 */
import type { StackInfo } from "@local/stack.ts";
import { type BenchResult, meetsTarget, render } from "./lib/report.ts";
import { acquireStack, type BenchStack } from "./lib/stack.ts";

/** What a benchmark gets. */
export interface BenchContext {
  quick: boolean;
  /** Whether `--<name>` was given (a benchmark-specific switch). */
  has(name: string): boolean;
  /** The value of `--<name>=<value>`, if given. */
  value(name: string): string | undefined;
  /** Progress lines (stderr, so stdout stays the report). */
  log: (line: string) => void;
  /** The stack, started on first use. */
  stack(): Promise<StackInfo>;
}

/** A benchmark module's export. */
export interface Benchmark {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

const MODULES: Record<string, () => Promise<{ benchmark: Benchmark }>> = {
  segments: () => import("./segments.ts"),
  claim: () => import("./claim.ts"),
  drain: () => import("./drain.ts"),
  "send-sms": () => import("./send-sms.ts"),
  "cold-start": () => import("./cold-start.ts"),
  "edge-cpu": () => import("./edge-cpu.ts"),
  campaign: () => import("./campaign.ts"),
  fairness: () => import("./fairness.ts"),
};

function flag(args: string[], name: string): string | undefined {
  const hit = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (!hit) return undefined;
  return hit.includes("=") ? hit.slice(hit.indexOf("=") + 1) : "true";
}

if (import.meta.main) {
  const args = Deno.args;
  const names = args.filter((a) => !a.startsWith("--"));
  const wanted = names.length === 1 && names[0] === "all" ? Object.keys(MODULES) : names;
  if (wanted.length === 0 || wanted.some((n) => !MODULES[n])) {
    console.error(
      `usage: npm run bench -- <${Object.keys(MODULES).join("|")}|all> ` +
        "[--quick] [--stack=<stack.json>] [--json=<file>]",
    );
    Deno.exit(2);
  }
  const quick = flag(args, "quick") === "true";
  const jsonPath = flag(args, "json");
  const encoder = new TextEncoder();
  const log = (line: string) => Deno.stderr.writeSync(encoder.encode(`[bench] ${line}\n`));

  let stack: Promise<BenchStack> | null = null;
  const ctx: BenchContext = {
    quick,
    has: (name) => flag(args, name) === "true",
    value: (name) => flag(args, name),
    log,
    stack: async () => {
      stack ??= acquireStack(flag(args, "stack"), log);
      return (await stack).info;
    },
  };
  const stop = async () => {
    if (stack) await (await stack.catch(() => null))?.stop();
  };
  // A throwaway stack serves one benchmark; a given one (`--stack`, STACK_JSON) is kept.
  const release = async () => {
    if ((await stack?.catch(() => null))?.owned) {
      await stop();
      stack = null;
    }
  };
  Deno.addSignalListener("SIGINT", () => stop().finally(() => Deno.exit(130)));

  const machine = () => {
    const mem = Deno.systemMemoryInfo();
    return `${navigator.hardwareConcurrency} CPUs, ${(mem.total / 2 ** 30).toFixed(1)} GiB, ` +
      `load average ${
        Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
      }, Deno ${Deno.version.deno}`;
  };
  console.log(`machine: ${machine()}`);
  const results: BenchResult[] = [];
  let failed = false;
  try {
    for (const name of wanted) {
      const { benchmark } = await MODULES[name]();
      log(`${name}${quick ? " (quick)" : ""}: ${benchmark.description}`);
      const result = await benchmark.run(ctx);
      result.figures.machineAfter = machine();
      results.push(result);
      console.log(
        `\n${render(result).replace(/\n(?=[^\n]*$)/, `\nmachine after: ${machine()}\n`)}`,
      );
      if (result.checks.some((c) => !c.ok)) failed = true;
      if (!quick && !meetsTarget(result)) log(`${name}: target missed`);
      await release();
    }
  } catch (e) {
    console.error(`bench failed: ${(e as Error).stack ?? e}`);
    failed = true;
  } finally {
    await stop();
  }
  if (jsonPath) {
    await Deno.writeTextFile(
      jsonPath,
      JSON.stringify(wanted.length === 1 ? results[0] ?? null : results, null, 2) + "\n",
    );
  }
  Deno.exit(failed ? 1 : 0);
}
