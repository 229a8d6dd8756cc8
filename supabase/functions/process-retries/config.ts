/**
 * Settings of a process-retries run: from the environment, optionally made stricter by the
 * request body, and the lease and deadlines that follow from them.
 *
 * The body may only tighten what the operator configured (a lower rate, a shorter budget, fewer
 * concurrent sends): whoever holds the cron secret still cannot make the worker send faster or run
 * longer than the environment allows.
 *
 * @module
 */
import { SmsError } from "@shared/contract/errors.ts";
import { TWILIO_REQUEST_TIMEOUT_MS } from "@shared/twilio/client.ts";

/** Answer of process-retries. */
export interface ProcessRetriesResult {
  claimed: number;
  sent: number;
  deferred: number;
  failed: number;
  skipped: number;
}

/** Default claim size; the body may ask for up to {@link MAX_BATCH_SIZE}. */
export const DEFAULT_BATCH_SIZE = 50;
/** Largest claim a run makes at once. */
export const MAX_BATCH_SIZE = 500;
/** Default wall-clock budget of a run (the cron's pg_net timeout is 55 s). */
export const DEFAULT_BUDGET_MS = 50_000;
/** Default sending rate, in SMS segments per second, shared by every worker of one sender. */
export const DEFAULT_SEGMENTS_PER_SECOND = 10;
/** Fewest rows in flight at once within one run when none is configured. */
export const DEFAULT_CONCURRENCY = 10;
/**
 * How long a row may be in flight while the pace still holds, in seconds: it starts 400 ms
 * before its slot (process-retries' prepare lead), then Twilio's create call takes its latency.
 * Keeping a pace of P segments per second needs about P × that rows in flight: 10 rows at 100 ms
 * a call cannot exceed 100 per second, whatever else is quick.
 */
const SEND_LATENCY_ALLOWANCE_S = 0.8;
/**
 * CPU time one run may plan, in ms: 55% of the platform's 2 s, so a run at the defaults stays
 * under 60% of the limit. What a worker's runs plan together is capped too
 * ({@link DEFAULT_WORKER_CPU_BUDGET_MS}): the platform counts CPU over a worker's life, not per
 * request (docs/decisions.md).
 */
export const DEFAULT_CPU_BUDGET_MS = 1_100;
/**
 * CPU time one row costs on the edge runtime's Deno, in ms: claimed, checked, sent, finished
 * (bench/edge-cpu.ts measures it: 4.27–5.45 ms in runs of one day; docs/performance.md, tenth
 * round). Rounded up to the half millisecond: a run that spends more than it planned eats into
 * the worker's margin, and each millisecond more costs a run a sixth of its rows (fairness
 * measured 1.18 at 6 ms, 0.91–0.97 at 5).
 */
export const DEFAULT_CPU_MS_PER_ROW = 5.5;
/**
 * CPU time all runs of one worker may plan together: runs that overlap in a worker (the cron's
 * minute and a manual call) share the worker's 2 s, and so do consecutive runs on one worker.
 * 80% of the hard limit: a worker that really spends its estimate passes the soft limit (1 s)
 * first and is retired (the next run boots a fresh one) before this is used up.
 */
export const DEFAULT_WORKER_CPU_BUDGET_MS = 1_600;
/**
 * The CPU time at which the runtime retires a worker: no new request is routed to it, its own
 * requests finish (edge-runtime's per-worker supervisor; docs/decisions.md).
 */
export const PLATFORM_SOFT_CPU_LIMIT_MS = 1_000;
/** How long a Twilio request may take before it is abandoned. */
export const DEFAULT_SEND_TIMEOUT_MS = TWILIO_REQUEST_TIMEOUT_MS;

/** Resolved settings of one run. */
export interface RetryRunConfig {
  /** Rows per claim. */
  batchSize: number;
  /** Wall-clock budget of the whole run, in ms. */
  budgetMs: number;
  /** Sending rate in segments per second (shared by every worker through the database). */
  segmentsPerSecond: number;
  /** Rows in flight at once. */
  concurrency: number;
  /** Longest a Twilio request may take. */
  sendTimeoutMs: number;
  /** Rows one run may start: its CPU budget over the CPU a row costs. */
  maxRows: number;
  /** The CPU one row is planned to cost, in ms. */
  cpuMsPerRow: number;
  /** The CPU all runs of one worker may plan together, in ms. */
  workerCpuBudgetMs: number;
  /** Whether a run asked to chain may start the next (`PROCESS_RETRIES_CHAIN`, default on). */
  chain: boolean;
}

/** Rows in flight that keep `segmentsPerSecond` going, within 10 and 100. */
function concurrencyFor(segmentsPerSecond: number): number {
  return Math.min(
    100,
    Math.max(DEFAULT_CONCURRENCY, Math.ceil(segmentsPerSecond * SEND_LATENCY_ALLOWANCE_S)),
  );
}

function positiveNumber(value: string | undefined, fallback: number, name: string): number {
  const text = value?.trim();
  if (!text) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}

/**
 * Reads `SMS_MAX_SEGMENTS_PER_SECOND`, `PROCESS_RETRIES_BUDGET_MS`, `PROCESS_RETRIES_CONCURRENCY`
 * (default: enough rows in flight for the pace, at least 10, at most 100),
 * `PROCESS_RETRIES_BATCH_SIZE`, `PROCESS_RETRIES_CPU_BUDGET_MS`, `PROCESS_RETRIES_CPU_MS_PER_ROW`
 * and `PROCESS_RETRIES_WORKER_CPU_BUDGET_MS` (together: how many rows a run and a worker start).
 * A malformed value throws: a misconfigured worker should fail
 * loudly (its heartbeat shows it), not guess.
 */
export function retryConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): RetryRunConfig {
  const budgetMs = Math.floor(
    positiveNumber(env.PROCESS_RETRIES_BUDGET_MS, DEFAULT_BUDGET_MS, "PROCESS_RETRIES_BUDGET_MS"),
  );
  const batchSize = Math.floor(
    positiveNumber(
      env.PROCESS_RETRIES_BATCH_SIZE,
      DEFAULT_BATCH_SIZE,
      "PROCESS_RETRIES_BATCH_SIZE",
    ),
  );
  const segmentsPerSecond = positiveNumber(
    env.SMS_MAX_SEGMENTS_PER_SECOND,
    DEFAULT_SEGMENTS_PER_SECOND,
    "SMS_MAX_SEGMENTS_PER_SECOND",
  );
  if (segmentsPerSecond > 10_000) throw new Error("SMS_MAX_SEGMENTS_PER_SECOND is above 10000");
  const concurrency = Math.floor(
    positiveNumber(
      env.PROCESS_RETRIES_CONCURRENCY,
      concurrencyFor(segmentsPerSecond),
      "PROCESS_RETRIES_CONCURRENCY",
    ),
  );
  const cpuBudgetMs = positiveNumber(
    env.PROCESS_RETRIES_CPU_BUDGET_MS,
    DEFAULT_CPU_BUDGET_MS,
    "PROCESS_RETRIES_CPU_BUDGET_MS",
  );
  const cpuMsPerRow = positiveNumber(
    env.PROCESS_RETRIES_CPU_MS_PER_ROW,
    DEFAULT_CPU_MS_PER_ROW,
    "PROCESS_RETRIES_CPU_MS_PER_ROW",
  );
  return {
    batchSize: Math.max(1, Math.min(MAX_BATCH_SIZE, batchSize)),
    budgetMs: Math.max(1_000, budgetMs),
    segmentsPerSecond,
    concurrency: Math.max(1, Math.min(100, concurrency)),
    sendTimeoutMs: DEFAULT_SEND_TIMEOUT_MS,
    maxRows: Math.max(1, Math.floor(cpuBudgetMs / cpuMsPerRow)),
    cpuMsPerRow,
    workerCpuBudgetMs: positiveNumber(
      env.PROCESS_RETRIES_WORKER_CPU_BUDGET_MS,
      DEFAULT_WORKER_CPU_BUDGET_MS,
      "PROCESS_RETRIES_WORKER_CPU_BUDGET_MS",
    ),
    chain: !/^(off|false|0)$/i.test(env.PROCESS_RETRIES_CHAIN?.trim() ?? ""),
  };
}

/** The JSON body process-retries accepts (everything optional; pg_cron sends `{"chain": true}`). */
export interface ProcessRetriesRequest {
  batchSize?: number;
  budgetMs?: number;
  maxSegmentsPerSecond?: number;
  concurrency?: number;
  /**
   * A run its CPU plan stops while due rows remain starts the next one
   * (`sms.invoke_process_retries()`), so a queue drains at the sender's pace, not at one run a
   * minute. Sent by pg_cron and by the runs it chains; a caller without it gets one run.
   */
  chain?: boolean;
}

interface Limit {
  int: boolean;
  min: number;
  /** `min` itself is refused (a positive number). */
  exclusive?: boolean;
  max: number;
}

const REQUEST_LIMITS: Record<Exclude<keyof ProcessRetriesRequest, "chain">, Limit> = {
  batchSize: { int: true, min: 1, max: MAX_BATCH_SIZE },
  budgetMs: { int: true, min: 1_000, max: 600_000 },
  maxSegmentsPerSecond: { int: false, min: 0, exclusive: true, max: 10_000 },
  concurrency: { int: true, min: 1, max: 100 },
};
const REQUEST_KEYS = new Set([...Object.keys(REQUEST_LIMITS), "chain"]);

// Messages in zod's wording: this parser was zod's until loading zod cost each cold start ~30 ms.
function received(value: unknown): string {
  if (typeof value === "number") {
    return Number.isNaN(value) ? "NaN" : Number.isFinite(value) ? "number" : String(value);
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (
    typeof value === "object" && Object.getPrototypeOf(value) !== Object.prototype &&
    "constructor" in value && value.constructor
  ) {
    return (value.constructor as { name: string }).name;
  }
  return typeof value;
}

/** What is wrong with a value for `limit`, or `null`. */
function numberProblem(value: unknown, limit: Limit): string | null {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    return `Invalid input: expected number, received ${received(value)}`;
  }
  if (limit.int && !Number.isInteger(value)) return "Invalid input: expected int, received number";
  if (limit.int && !Number.isSafeInteger(value)) {
    return value > 0
      ? `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`
      : `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`;
  }
  if (limit.exclusive ? value <= limit.min : value < limit.min) {
    return `Too small: expected number to be ${limit.exclusive ? ">" : ">="}${limit.min}`;
  }
  if (value > limit.max) return `Too big: expected number to be <=${limit.max}`;
  return null;
}

/** Parses a request body (`null` for an empty one); anything malformed is `invalid_request`. */
export function parseProcessRetriesRequest(body: unknown): ProcessRetriesRequest {
  if (body === null || body === undefined) return {};
  const refuse = (message: string, key?: string): never => {
    throw new SmsError("invalid_request", key === undefined ? message : `${key}: ${message}`);
  };
  if (typeof body !== "object" || Array.isArray(body)) {
    refuse(`Invalid input: expected object, received ${received(body)}`);
  }
  const input = body as Record<string, unknown>;
  const request: Record<string, unknown> = {};
  for (const [key, limit] of Object.entries(REQUEST_LIMITS)) {
    const value = input[key];
    if (value !== undefined) {
      const problem = numberProblem(value, limit);
      if (problem) refuse(problem, key);
    }
    if (key in input) request[key] = value;
  }
  if (input.chain !== undefined) {
    if (typeof input.chain !== "boolean") {
      refuse(`Invalid input: expected boolean, received ${received(input.chain)}`, "chain");
    }
    request.chain = input.chain;
  }
  const unknown: string[] = [];
  for (const key in input) if (!REQUEST_KEYS.has(key)) unknown.push(`"${key}"`);
  if (unknown.length) {
    refuse(`Unrecognized key${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`);
  }
  return request as ProcessRetriesRequest;
}

/**
 * Applies a request's overrides: `batchSize` as asked (within 1..500), the others only where they
 * are stricter than the environment's.
 */
export function applyRequestOverrides(
  config: RetryRunConfig,
  request: ProcessRetriesRequest,
): RetryRunConfig {
  const segmentsPerSecond = Math.min(
    config.segmentsPerSecond,
    request.maxSegmentsPerSecond ?? Infinity,
  );
  return {
    ...config,
    batchSize: request.batchSize ?? config.batchSize,
    chain: config.chain && request.chain === true,
    budgetMs: Math.min(config.budgetMs, request.budgetMs ?? Infinity),
    segmentsPerSecond,
    // A slower pace needs fewer rows in flight: no more than it can use.
    concurrency: Math.min(
      config.concurrency,
      request.concurrency ?? Infinity,
      concurrencyFor(segmentsPerSecond),
    ),
  };
}

/**
 * Time kept at the end of the budget for the sends already started to finish: no send starts in
 * the last quarter of the budget, nor (for long budgets) in its last 10 s.
 */
export function finishReserveMs(config: Pick<RetryRunConfig, "budgetMs">): number {
  return Math.min(10_000, Math.floor(config.budgetMs / 4));
}

/**
 * Lease a run takes on the rows it claims, in seconds: longer than anything the run can still do
 * with a row (wait for the budget's last start, one Twilio request, the bookkeeping after it), so a
 * live worker's lease never expires under it; a dead worker's rows come back after it.
 */
export function leaseSecondsFor(
  config: Pick<RetryRunConfig, "budgetMs" | "sendTimeoutMs">,
): number {
  return Math.ceil((config.budgetMs + config.sendTimeoutMs) / 1000) + 45;
}

/**
 * Lease a row must still have when its send is marked: the longest wait for its slot (up to the
 * last start), the Twilio request, and a margin. Below that the row is left alone.
 */
export function minLeaseSecondsAtSend(
  config: Pick<RetryRunConfig, "sendTimeoutMs">,
  remainingStartMs: number,
): number {
  return Math.ceil((Math.max(0, remainingStartMs) + config.sendTimeoutMs) / 1000) + 15;
}
