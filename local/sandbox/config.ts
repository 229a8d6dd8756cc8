/**
 * Runtime configuration of the sandbox: fault injection and callback behaviour. Tests change it
 * through `POST /api/config`, so every field is validated the same way at start and at runtime.
 * @module
 */
import { z } from "zod";
import { failNextCode } from "./fail-next.ts";
import { DEFAULT_PRICE_PER_SEGMENT } from "./pricing.ts";

/** How a number configured to fail ends. */
export interface FailureSpec {
  /** `undelivered`: sent, then the carrier reports non-delivery. `failed`: never sent. */
  status: "undelivered" | "failed";
  /** Twilio error code reported as `ErrorCode` (e.g. 30003 unreachable handset). */
  errorCode: number;
}

/** Fault injection and callback settings. Rates are probabilities between 0 and 1. */
export interface SandboxConfig {
  /** Delay before answering a create request, in ms (the median when `latencyP99Ms` is set). */
  latencyMs: number;
  /**
   * When set, each create waits a log-normal draw instead of `latencyMs`: median `latencyMs`,
   * 99th percentile `latencyP99Ms` (1% of requests slower), as a real API's latency has a long
   * tail. `null`: every create waits exactly `latencyMs`.
   */
  latencyP99Ms: number | null;
  /** Probability that a create is answered 429 (Twilio code 20429). */
  rate429: number;
  /** Probability that a create is answered 500 or 503 (Twilio codes 20500/20503). */
  rate5xx: number;
  /** Probability that a create hangs for `timeoutHangMs` and is then dropped with no answer. */
  rateTimeout: number;
  /** How long a timed-out create is held before the connection is dropped, in ms. */
  timeoutHangMs: number;
  /** Destination numbers that fail delivery, and how. */
  failures: Record<string, FailureSpec>;
  /**
   * One-shot failures: the next create to each number that would otherwise succeed fails with
   * the Twilio error code given (see `fail-next.ts`), and the entry is removed.
   */
  failNext: Record<string, number>;
  /** `ordered`: callbacks in lifecycle order. `shuffled`: a random order, as Twilio may deliver. */
  callbackOrder: "ordered" | "shuffled";
  /** Delay before each status callback, in ms. */
  callbackDelayMs: number;
  /** Probability that a callback is delivered a second time (same idempotency token). */
  duplicateRate: number;
  /**
   * Probability that a status callback is lost: never posted, as when the app's endpoint was
   * down for all of Twilio's tries. The message still moves on, and a fetch shows its status.
   */
  callbackDropRate: number;
  /** Destination numbers whose status callbacks are all lost (see `callbackDropRate`). */
  dropCallbacksTo: string[];
  /** Advanced Opt-Out: inbound STOP/START/HELP keywords carry `OptOutType`. */
  advancedOptOut: boolean;
  /** Where simulated inbound messages are posted (the app's public twilio-webhook URL). */
  inboundWebhookUrl: string | null;
  /**
   * Dollars per segment a sent message's resource shows as its price (see `pricing.ts`);
   * `null` leaves every message unpriced, as Twilio's resource is before it fills the price in.
   */
  pricePerSegment: number | null;
  /** Destination numbers whose messages stay unpriced (Twilio has not priced them yet). */
  unpricedTo: string[];
}

/** Built-in defaults: no faults, ordered callbacks a little apart. */
export const DEFAULT_CONFIG: Readonly<SandboxConfig> = Object.freeze({
  latencyMs: 0,
  latencyP99Ms: null,
  rate429: 0,
  rate5xx: 0,
  rateTimeout: 0,
  timeoutHangMs: 15_000,
  failures: {},
  failNext: {},
  callbackOrder: "ordered",
  callbackDelayMs: 25,
  duplicateRate: 0,
  callbackDropRate: 0,
  dropCallbacksTo: [],
  advancedOptOut: false,
  inboundWebhookUrl: null,
  pricePerSegment: DEFAULT_PRICE_PER_SEGMENT,
  unpricedTo: [],
});

const rate = z.number().min(0).max(1);
const millis = z.number().int().min(0).max(600_000);
const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}, "must be an http(s) URL");

const failureSchema = z.strictObject({
  status: z.enum(["undelivered", "failed"]),
  errorCode: z.number().int().min(1),
});

/** Schema of a partial update; unknown keys are rejected so typos do not pass silently. */
export const configPatchSchema = z.strictObject({
  latencyMs: millis,
  latencyP99Ms: millis.nullable(),
  rate429: rate,
  rate5xx: rate,
  rateTimeout: rate,
  timeoutHangMs: millis,
  failures: z.record(z.string().regex(/^\+[1-9]\d{1,14}$/, "must be E.164"), failureSchema),
  failNext: z.record(
    z.string().regex(/^\+[1-9]\d{1,14}$/, "must be E.164"),
    z.number().int().refine((code) => failNextCode(code) !== undefined, "unsupported error code"),
  ),
  callbackOrder: z.enum(["ordered", "shuffled"]),
  callbackDelayMs: millis,
  duplicateRate: rate,
  callbackDropRate: rate,
  dropCallbacksTo: z.array(z.string().regex(/^\+[1-9]\d{1,14}$/, "must be E.164")).max(10_000),
  advancedOptOut: z.boolean(),
  inboundWebhookUrl: httpUrl.nullable(),
  pricePerSegment: z.number().min(0).max(10).nullable(),
  unpricedTo: z.array(z.string().regex(/^\+[1-9]\d{1,14}$/, "must be E.164")).max(10_000),
}).partial();

/** A validated partial update. */
export type ConfigPatch = z.infer<typeof configPatchSchema>;

/** Result of checking a patch: the new config, or a human-readable reason. */
export type ConfigResult = { ok: true; config: SandboxConfig } | { ok: false; error: string };

/**
 * Applies `patch` over `base`. `failures`, `failNext`, `dropCallbacksTo` and `unpricedTo`, when
 * given, replace the whole map or list: merging would make it impossible to remove a number through the same call.
 */
export function applyConfigPatch(base: SandboxConfig, patch: unknown): ConfigResult {
  const parsed = configPatchSchema.safeParse(patch);
  if (!parsed.success) return { ok: false, error: z.prettifyError(parsed.error) };
  const next: SandboxConfig = {
    ...base,
    failures: { ...base.failures },
    failNext: { ...base.failNext },
    dropCallbacksTo: [...base.dropCallbacksTo],
    unpricedTo: [...base.unpricedTo],
  };
  for (const [key, value] of Object.entries(parsed.data)) {
    if (value !== undefined) Object.assign(next, { [key]: value });
  }
  return { ok: true, config: next };
}

/** A deep copy, so callers cannot mutate the live config through a returned object. */
export function cloneConfig(config: SandboxConfig): SandboxConfig {
  return structuredClone(config);
}
