/**
 * The stack a benchmark runs against: `--stack=<stack.json>` (or `STACK_JSON`, as `npm test`
 * sets it) reuses a running one; otherwise a throwaway stack is started in a child process
 * (`stack-host.ts`) and stopped afterwards.
 *
 * @module
 */
import postgres from "postgres";
import type { StackInfo } from "@local/stack.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";

/** A stack in use by a benchmark. */
export interface BenchStack {
  info: StackInfo;
  /** True when the benchmark started it (full runs); false when reusing one. */
  owned: boolean;
  stop(): Promise<void>;
}

/** Reuses the stack of `stackJson` or starts a throwaway one. */
export async function acquireStack(
  stackJson: string | undefined,
  log: (line: string) => void,
): Promise<BenchStack> {
  const path = stackJson ?? Deno.env.get("STACK_JSON");
  if (path) {
    const info = JSON.parse(await Deno.readTextFile(path)) as StackInfo;
    return { info, owned: false, stop: async () => {} };
  }
  log("starting a throwaway stack (bench/lib/stack-host.ts)…");
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--config=${join(PROJECT_ROOT, "deno.json")}`,
      join(PROJECT_ROOT, "bench", "lib", "stack-host.ts"),
    ],
    cwd: PROJECT_ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const decoder = new TextDecoder();
  let stderrText = "";
  // Keep the stack's log for when it fails; do not print it (it would drown the table).
  (async () => {
    for await (const chunk of child.stderr) stderrText += decoder.decode(chunk, { stream: true });
  })();
  let buffered = "";
  let readyPath: string | null = null;
  // Read to the end, not just to the ready line: whatever the stack's process writes after it
  // must not meet a closed pipe (the functions' info logs, which once came here too, then threw
  // BrokenPipe and answered 500; stack-host.ts now drops them).
  const reader = child.stdout.getReader();
  while (readyPath === null) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const m = /STACK_READY (\S+)\n/.exec(buffered);
    if (m) readyPath = m[1];
  }
  (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* discard */ }
  })();
  if (!readyPath) {
    await child.status;
    throw new Error(`the throwaway stack did not start:\n${stderrText.slice(-4000)}`);
  }
  const info = JSON.parse(await Deno.readTextFile(readyPath)) as StackInfo;
  log(`stack up in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return {
    info,
    owned: true,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await stdin.close().catch(() => {});
    },
  };
}

/** A postgres.js pool on the stack's database (owner). */
export function ownerDb(info: StackInfo, max = 4): postgres.Sql {
  return postgres(info.dbUrl, { max, onnotice: () => {} });
}

/**
 * Pauses the `process-sms-retries` cron job while `fn` runs (its every-minute call of
 * process-retries would claim the benchmark's rows and load the machine), then restores it.
 */
export async function withCronPaused<T>(sql: postgres.Sql, fn: () => Promise<T>): Promise<T> {
  const jobs = await sql<{ jobid: string; active: boolean }[]>`
    select jobid::text, active from cron.job where jobname = 'process-sms-retries'`;
  for (const j of jobs) await sql`select cron.alter_job(${j.jobid}::bigint, active => false)`;
  try {
    return await fn();
  } finally {
    for (const j of jobs) {
      await sql`select cron.alter_job(${j.jobid}::bigint, active => ${j.active})`;
    }
  }
}

/**
 * Holds a row lock on every unfinished retry row that is not the benchmark's (`business_id`
 * other than `businessId`) until `release()`, so claims (SKIP LOCKED) leave other tests' rows
 * alone on a shared stack. Holding the locks keeps a transaction open, which holds back the
 * vacuum horizon (dead index entries of claimed rows cannot be pruned, so every later claim
 * walks them): when there is nothing to fence, no transaction is kept.
 */
export async function fenceOtherRetries(
  info: StackInfo,
  businessId: string,
): Promise<{ fenced: number; release(): Promise<void> }> {
  const sql = postgres(info.dbUrl, { max: 1, onnotice: () => {} });
  const reserved = await sql.reserve();
  await reserved`begin`;
  const rows = await reserved`
    select id from sms.retry_queue
     where status in ('pending', 'processing') and business_id <> ${businessId}
     for update`;
  const release = async () => {
    await reserved`rollback`;
    reserved.release();
    await sql.end({ timeout: 5 });
  };
  if (rows.length === 0) {
    await release();
    return { fenced: 0, release: async () => {} };
  }
  return { fenced: rows.length, release };
}

/** The sandbox's config API. */
export async function sandboxConfig(
  info: StackInfo,
  patch: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${info.sandboxUrl}/api/config`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(patch),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`sandbox config: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** The sandbox's current config (to restore it after a benchmark). */
export async function sandboxConfigNow(info: StackInfo): Promise<Record<string, unknown>> {
  return await (await fetch(`${info.sandboxUrl}/api/config`)).json();
}

/**
 * Waits until the sandbox has no status callback in flight (it answers `/api/idle` once none
 * is), so they land before a benchmark drops its tenants.
 */
export async function sandboxIdle(info: StackInfo): Promise<void> {
  await fetch(`${info.sandboxUrl}/api/idle`).then((r) => r.body?.cancel());
}

/** Puts back a configuration read by {@link sandboxConfigNow} (best effort, for a cleanup). */
export async function restoreSandboxConfig(
  info: StackInfo,
  saved: Record<string, unknown>,
): Promise<void> {
  const { reset: _r, ...restore } = saved;
  await sandboxConfig(info, restore).catch(() => {});
}
