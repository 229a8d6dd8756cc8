/**
 * A process-retries of a benchmark's own, for `drain` and `edge-cpu`: started exactly as the stack
 * starts functions (local/functions.ts's FunctionProcess on the edge runtime's Deno, the stack's
 * environment plus the benchmark's settings) behind a gateway of its own (the stack's gateway
 * code, local/gateway.ts), and called as pg_cron calls it (`POST` with the cron secret).
 *
 * The stack's own process-retries runs with the stack's settings, and a request may only make
 * them stricter; a benchmark that needs other settings (a faster pace) needs its own process.
 *
 * @module
 */
import type postgres from "postgres";
import type { StackInfo } from "@local/stack.ts";
import { FunctionProcess } from "@local/functions.ts";
import { startGateway } from "@local/gateway.ts";
import { freePort } from "@local/ports.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";
import { stackFunctionEnv } from "../cold-start.ts";

/** process-retries's answer. */
export interface RunAnswer {
  claimed: number;
  sent: number;
  deferred: number;
  failed: number;
  skipped: number;
}

/** A running process-retries of the benchmark's own. */
export interface RetriesProcess {
  /** One cron-like call; rejects unless it answers 200. */
  call(body?: Record<string, unknown>): Promise<RunAnswer>;
  /** CPU time of its workers' JavaScript threads so far, in ms (from /proc). */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** A one-segment GSM-7 message, the body every queued row carries. */
export const RETRY_BODY =
  "Hi, thanks for visiting Bench Dental! How did we do? Reply STOP to opt out.";

// The run's settings (config.ts): a benchmark sets the ones it means, the rest stay at defaults.
const RUN_SETTINGS =
  /^(SMS_MAX_SEGMENTS_PER_SECOND|PROCESS_RETRIES_(BATCH_SIZE|BUDGET_MS|CONCURRENCY|CPU_BUDGET_MS|CPU_MS_PER_ROW|WORKER_CPU_BUDGET_MS))$/;

/**
 * Starts process-retries with the stack's environment without its run settings, plus `env`.
 */
export async function startProcessRetries(
  info: StackInfo,
  env: Record<string, string>,
  options: { tag: string; log: (line: string) => void },
): Promise<RetriesProcess> {
  const entry = join(PROJECT_ROOT, "supabase", "functions", "process-retries", "index.ts");
  const fn = new FunctionProcess(
    { name: "process-retries", entry, verifyJwt: false },
    {
      port: freePort(),
      env: {
        ...Object.fromEntries(
          Object.entries(stackFunctionEnv(info)).filter(([k]) => !RUN_SETTINGS.test(k)),
        ),
        ...env,
      },
      tag: options.tag,
      log: options.log,
    },
  );
  const jwks = await (await fetch(info.jwksUrl)).json();
  const gatewayPort = freePort();
  let gateway: Deno.HttpServer | null = null;
  try {
    await fn.start();
    gateway = startGateway({ port: gatewayPort, jwks, functions: [fn] });
  } catch (e) {
    await fn.stop();
    throw e;
  }
  return {
    async call(body = {}) {
      const res = await fetch(`http://127.0.0.1:${gatewayPort}/functions/v1/process-retries`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${info.processRetriesSecret}`,
          "content-type": "application/json",
        },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`process-retries: ${res.status} ${text}`);
      return JSON.parse(text) as RunAnswer;
    },
    cpuMs: () => fn.cpuMs(),
    async stop() {
      await gateway?.shutdown();
      await fn.stop();
    },
  };
}

/** Queues one due one-segment row per customer (reason quiet_hours, due a second ago). */
export async function enqueueDue(sql: postgres.Sql, customerIds: string[]): Promise<void> {
  await sql`
    select sms.enqueue_retry(
             p_customer_id => c.id, p_body => ${RETRY_BODY}, p_reason => 'quiet_hours',
             p_scheduled_for => now() - interval '1 second', p_segments => 1,
             p_encoding => 'GSM-7')
      from unnest(${customerIds}::uuid[]) as c (id)`;
}

/** The business's rows still to send: pending or held, and of those the ones due now. */
export async function queueLeft(
  sql: postgres.Sql,
  businessId: string,
): Promise<{ open: number; due: number }> {
  const [row] = await sql<{ open: number; due: number }[]>`
    select count(*)::int as open,
           (count(*) filter (where status = 'pending' and scheduled_for <= now()))::int as due
      from sms.retry_queue
     where business_id = ${businessId} and status in ('pending', 'processing')`;
  return row;
}

/** A create request the sandbox saw. */
export interface Attempt {
  at: string;
  receivedAt?: string;
  outcome: string;
  code: number | null;
  to: string | null;
}

/** The sandbox's create attempts so far (a benchmark keeps the count to slice off its own). */
export async function sandboxAttempts(info: StackInfo): Promise<Attempt[]> {
  return await (await fetch(`${info.sandboxUrl}/api/attempts`)).json() as Attempt[];
}
