/**
 * Frequency caps: the strictest rolling cap among a recipient's candidate regions, and whether
 * one more message fits in it given the recipient's recent sends.
 *
 * @module
 */

import {
  type QuietHoursOptions,
  type QuietHoursRecipient,
  resolveCandidates,
} from "./quiet-hours.ts";
import { STATE_RULES } from "./state-rules.ts";

/**
 * How far back a caller must read a recipient's sends for {@link frequencyCapFor}'s caps: the
 * longest window among the state rules (24 h today). send-sms and process-retries both use it.
 */
export const FREQUENCY_CAP_LOOKBACK_MS = Math.max(
  0,
  ...STATE_RULES.map((r) => (r.frequencyCap?.windowHours ?? 0) * 3_600_000),
);

/** A frequency cap: at most `max` messages per rolling `windowMs`. */
export interface FrequencyCap {
  max: number;
  windowMs: number;
  /** The regions whose rules impose it. */
  regions: string[];
}

/** The strictest frequency cap among the recipient's candidate regions, or `null`. */
export function frequencyCapFor(
  recipient: QuietHoursRecipient,
  options: QuietHoursOptions = {},
): FrequencyCap | null {
  const { regions } = resolveCandidates(recipient, options);
  let cap: FrequencyCap | null = null;
  for (const rule of options.stateRules ?? STATE_RULES) {
    if (!rule.frequencyCap || !regions.includes(rule.region)) continue;
    const windowMs = rule.frequencyCap.windowHours * 3_600_000;
    const { max } = rule.frequencyCap;
    if (!cap || max / windowMs < cap.max / cap.windowMs) {
      cap = { max, windowMs, regions: [rule.region] };
    } else if (max === cap.max && windowMs === cap.windowMs) {
      cap.regions.push(rule.region);
    }
  }
  return cap;
}

/** Result of {@link checkFrequencyCap}. */
export interface FrequencyCapResult {
  allowed: boolean;
  /** Messages already sent inside the rolling window ending at `now`. */
  count: number;
  /** When one more message fits (`now` when allowed). */
  nextAllowedAt: Date;
}

/**
 * Checks a cap against the recipient's recent send times: allowed while fewer than `max` sends
 * fall in `(now - windowMs, now]`; otherwise the next slot opens when the oldest of the last
 * `max` sends leaves the window.
 */
export function checkFrequencyCap(
  recentSends: readonly Date[],
  now: Date,
  cap: Pick<FrequencyCap, "max" | "windowMs">,
): FrequencyCapResult {
  const t = now.getTime();
  const inWindow = recentSends
    .map((d) => d.getTime())
    .filter((s) => s > t - cap.windowMs && s <= t)
    .sort((a, b) => a - b);
  if (inWindow.length < cap.max) {
    return { allowed: true, count: inWindow.length, nextAllowedAt: new Date(t) };
  }
  const blocking = inWindow[inWindow.length - cap.max];
  return {
    allowed: false,
    count: inWindow.length,
    nextAllowedAt: new Date(blocking + cap.windowMs),
  };
}
