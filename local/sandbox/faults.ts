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

/** The 99th percentile of the standard normal distribution. */
const Z99 = 2.3263478740408408;

/**
 * How long one create waits, in ms: `latencyMs`, or with `latencyP99Ms` set (and above it) a
 * log-normal draw whose median is `latencyMs` and whose 99th percentile is `latencyP99Ms`.
 */
export function pickLatencyMs(config: SandboxConfig, random: () => number): number {
  const median = config.latencyMs;
  const p99 = config.latencyP99Ms;
  if (p99 === null || median <= 0 || p99 <= median) return median;
  const sigma = Math.log(p99 / median) / Z99;
  // Box-Muller; 1 - random() is in (0, 1], so the logarithm is finite.
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.min(600_000, Math.round(median * Math.exp(sigma * z)));
}
