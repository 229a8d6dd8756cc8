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
  /** Its gateway, as a project URL (`<url>/functions/v1/process-retries`). */
  url: string;
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
    url: `http://127.0.0.1:${gatewayPort}`,
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

/** The business's rows still to send: pending or held, of those the ones due now, and held. */
export async function queueLeft(
  sql: postgres.Sql,
  businessId: string,
): Promise<{ open: number; due: number; held: number }> {
  const [row] = await sql<{ open: number; due: number; held: number }[]>`
    select count(*)::int as open,
           (count(*) filter (where status = 'pending' and scheduled_for <= now()))::int as due,
           (count(*) filter (where status = 'processing'))::int as held
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

/**
 * Points Vault's `project_url` at `url` while `fn` runs, so the runs process-retries chains
 * (`sms.invoke_process_retries()` through pg_net) reach the benchmark's process, as in a project
 * they reach the deployed function; restored afterwards.
 */
export async function withChainTarget<T>(
  sql: postgres.Sql,
  url: string,
  fn: () => Promise<T>,
): Promise<T> {
  const [secret] = await sql<{ id: string; url: string }[]>`
    select id, decrypted_secret as url from vault.decrypted_secrets where name = 'project_url'
     order by created_at desc limit 1`;
  if (!secret) throw new Error("Vault has no project_url");
  await sql`select vault.update_secret(${secret.id}::uuid, ${url})`;
  try {
    return await fn();
  } finally {
    await sql`select vault.update_secret(${secret.id}::uuid, ${secret.url})`;
  }
}

/** A run process-retries recorded (sms.worker_heartbeats): its answer and its wall time. */
export interface RecordedRun extends RunAnswer {
  ms: number;
}

/** The runs that started in [from, to), finished or not. */
export async function runsBetween(
  sql: postgres.Sql,
  from: Date,
  to: Date,
): Promise<RecordedRun[]> {
  return await sql<RecordedRun[]>`
    select claimed, sent, deferred, failed, skipped,
           coalesce(extract(epoch from finished_at - started_at) * 1000, 0)::float8 as ms
      from sms.worker_heartbeats
     where worker = 'process-retries' and started_at >= ${from} and started_at < ${to}
     order by started_at`;
}
