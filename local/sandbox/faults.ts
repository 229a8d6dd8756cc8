/**
 * Fault injection for create requests: decides, per request, whether to answer 429, 5xx or
 * nothing at all, from the configured probabilities.
 * @module
 */
import type { SandboxConfig } from "./config.ts";

/** The fault to inject into one request, if any. */
export type Fault =
  | { kind: "rate_limited" }
  | { kind: "server_error"; status: 500 | 503 }
  | { kind: "timeout" }
  | null;

/**
 * One draw decides the fault, so with `rate429 + rate5xx + rateTimeout <= 1` the rates are exact
 * and independent of each other; a rate of 1 always faults.
 */
export function pickFault(config: SandboxConfig, random: () => number): Fault {
  const draw = random();
  if (draw < config.rate429) return { kind: "rate_limited" };
  if (draw < config.rate429 + config.rate5xx) {
    return { kind: "server_error", status: random() < 0.5 ? 500 : 503 };
  }
  if (draw < config.rate429 + config.rate5xx + config.rateTimeout) return { kind: "timeout" };
  return null;
}
