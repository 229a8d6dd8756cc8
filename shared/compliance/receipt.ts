/**
 * The compliance receipt a send log keeps: why the message was allowed when it went out. It
 * answers a regulator's "why was this number texted at this time?" with what the decision used:
 * the recipient's zones and where they came from, their local time, the window's end, the
 * frequency cap and the sends it counted, and the rule set's version. The consent event the send
 * relied on is recorded beside it by the database (`send_logs.consent_event_id`).
 *
 * @module
 */
import type { FrequencyCap } from "./frequency-cap.ts";
import { type LocationBasis, type QuietHoursResult, zoneOffsetMs } from "./quiet-hours.ts";

/**
 * The rule set's version: the date its rules were last checked against their sources
 * (docs/compliance.md, "Quiet hours and state rules"). Change it with any rule.
 */
export const RULE_SET_VERSION = "2026-12-04";

/** What `send_logs.compliance_receipt` holds. */
export interface ComplianceReceipt {
  ruleSet: string;
  /** When the decision was made (ISO 8601). */
  decidedAt: string;
  recipient: {
    basis: LocationBasis;
    timeZones: string[];
    /** The states whose rules applied. */
    regions: string[];
    /** Local date and time in each candidate zone at `decidedAt` ("2026-07-01 13:05"). */
    localTimes: Record<string, string>;
  };
  /** End of the window the message went out in (ISO 8601), `null` when none is in sight. */
  windowEndsAt: string | null;
  /** The cap that applied and the sends to the number it counted, `null` when none applied. */
  frequencyCap: { max: number; windowHours: number; regions: string[]; counted: number } | null;
}

function localTime(zone: string, at: Date): string {
  // Through quiet-hours' cached offsets: a new Intl.DateTimeFormat per receipt was 6% of a
  // process-retries run's CPU (bench edge-cpu, profile).
  const local = new Date(at.getTime() + zoneOffsetMs(zone, at.getTime()));
  return local.toISOString().slice(0, 16).replace("T", " ");
}

/** The receipt of a decision to send at `now`. */
export function complianceReceipt(
  quiet: QuietHoursResult,
  now: Date,
  cap: { rule: FrequencyCap; counted: number } | null,
): ComplianceReceipt {
  return {
    ruleSet: RULE_SET_VERSION,
    decidedAt: now.toISOString(),
    recipient: {
      basis: quiet.basis,
      timeZones: quiet.timeZones,
      regions: quiet.regions,
      localTimes: Object.fromEntries(quiet.timeZones.map((z) => [z, localTime(z, now)])),
    },
    windowEndsAt: quiet.windowEndsAt?.toISOString() ?? null,
    frequencyCap: cap
      ? {
        max: cap.rule.max,
        windowHours: cap.rule.windowMs / 3_600_000,
        regions: cap.rule.regions,
        counted: cap.counted,
      }
      : null,
  };
}
