/**
 * The hosted platform's per-worker limits and the answers it gives when one is hit.
 *
 * Sources (read, not copied): supabase.com/docs/guides/functions/limits (2 s CPU, 256 MB,
 * wall clock 150 s free / 400 s paid, request idle timeout 150 s); supabase/edge-runtime v1.74.0
 * `crates/base/src/worker/supervisor/strategy_per_worker.rs` (per_worker policy: CPU time is
 * added up over the worker's life; at the soft limit the worker is retired, at the hard limit it
 * is terminated; the wall clock retires it at half its length and terminates it at the end) and
 * `.cargo/config.toml` (soft 1000 ms, hard 2000 ms, 256 MiB); docs/guides/functions/status-codes
 * and error-codes (546 for a resource limit, 504 for the idle timeout, 503 boot error, 500 worker
 * error, each with an `sb-error-code` header). docs/decisions.md has the details.
 */

/** Limits of one worker (one function process here, one isolate on the platform). */
export interface FunctionLimits {
  /** CPU time after which the worker takes no new requests (the platform's soft limit). */
  cpuSoftMs: number;
  /** CPU time after which the worker is terminated, requests in flight included. */
  cpuHardMs: number;
  /** V8 heap of the worker, in MiB. */
  memoryMb: number;
  /** Life of a worker: retired at half, terminated at the end. */
  wallClockMs: number;
  /** Longest wait for a response's headers before the platform answers 504. */
  idleTimeoutMs: number;
}

/** Hosted free plan: what a project gets by default. */
export const FREE_PLAN_LIMITS: FunctionLimits = {
  cpuSoftMs: 1000,
  cpuHardMs: 2000,
  memoryMb: 256,
  wallClockMs: 150_000,
  idleTimeoutMs: 150_000,
};

/** Paid plans differ only in the wall clock. */
export const PAID_PLAN_LIMITS: FunctionLimits = { ...FREE_PLAN_LIMITS, wallClockMs: 400_000 };

/** Why the platform answered instead of the function. */
export type PlatformError = "resource_limit" | "idle_timeout" | "boot_error" | "worker_error";

const ANSWERS: Record<PlatformError, { status: number; code: string; message: string }> = {
  resource_limit: {
    status: 546,
    code: "WORKER_RESOURCE_LIMIT",
    message: "Function failed due to not having enough compute resources (please check logs)",
  },
  idle_timeout: {
    status: 504,
    code: "IDLE_TIMEOUT",
    message: "Request idle timeout limit reached",
  },
  boot_error: {
    status: 503,
    code: "BOOT_ERROR",
    message: "Function failed to start (please check logs)",
  },
  worker_error: {
    status: 500,
    code: "WORKER_ERROR",
    message: "Function exited due to an error (please check logs)",
  },
};

/** The platform's own answer for `error`, with its `sb-error-code` header. */
export function platformAnswer(error: PlatformError): Response {
  const { status, code, message } = ANSWERS[error];
  return new Response(JSON.stringify({ code, message }), {
    status,
    headers: { "content-type": "application/json", "sb-error-code": code },
  });
}
