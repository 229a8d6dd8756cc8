/**
 * Refreshing statuses no callback reported, without I/O: which logs count as stale (the
 * thresholds, from the environment), how many a run may look up, and what Twilio's answer to a
 * lookup means for the log.
 *
 * A status callback can be lost (our endpoint down, a database outage answering 500, a network
 * error), and Twilio retries callbacks only on the failures its connection overrides name
 * (docs/reliability.md). After the queue's work, a run asks Twilio's API for the current status of
 * the logs that waited longest, and applies it as a callback would be applied.
 *
 * @module
 */
import type { FetchMessageResult } from "@shared/twilio/messages.ts";

/** Default wait for a callback in queued, accepted or sending before Twilio is asked. */
export const DEFAULT_LOOKUP_QUEUED_AFTER_S = 600;
/** Default wait in sent for the delivery receipt (carriers usually report within minutes). */
export const DEFAULT_LOOKUP_SENT_AFTER_S = 3_600;
/** Default time before one log is asked about again. */
export const DEFAULT_LOOKUP_RECHECK_S = 3_600;
/**
 * Default age past which a log is no longer asked about: Twilio's status stays sent for good when
 * the carrier sends no receipt, and a message's validity period is at most 10 hours.
 */
export const DEFAULT_LOOKUP_MAX_AGE_H = 72;
/** Default lookups one run makes at most. */
export const DEFAULT_LOOKUP_MAX_PER_RUN = 50;
/** Largest `PROCESS_RETRIES_LOOKUP_MAX` accepted. */
export const MAX_LOOKUPS_PER_RUN = 500;
/** Lookups claimed at once: a run that stops early leaves few logs marked but not asked about. */
export const LOOKUP_CLAIM_SIZE = 10;
/**
 * How long one lookup may take. Short: a lookup that does not answer is simply asked again at the
 * next recheck, and a run must not wait on it past its budget.
 */
export const LOOKUP_TIMEOUT_MS = 5_000;

/** Settings of status refreshing. */
export interface RefreshConfig {
  /** Lookups one run makes at most; 0 turns refreshing off. */
  maxPerRun: number;
  /** Seconds in queued or sending without a callback before Twilio is asked. */
  queuedAfterS: number;
  /** Seconds in sent without a callback before Twilio is asked. */
  sentAfterS: number;
  /** Seconds before the same log is asked about again. */
  recheckS: number;
  /** Logs whose status is older than this (seconds) are no longer asked about. */
  maxAgeS: number;
}

/** A whole-number setting from the environment: `fallback` when unset, a throw when malformed. */
export function wholeNumber(
  value: string | undefined,
  fallback: number,
  name: string,
  range: { min: number; max: number },
): number {
  const text = value?.trim();
  if (!text) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    throw new Error(`${name} must be a whole number from ${range.min} to ${range.max}`);
  }
  return n;
}

const DAY_S = 86_400;

/**
 * Reads `PROCESS_RETRIES_LOOKUP_MAX` (lookups per run, 0 = off), `PROCESS_RETRIES_LOOKUP_QUEUED_S`,
 * `PROCESS_RETRIES_LOOKUP_SENT_S`, `PROCESS_RETRIES_LOOKUP_RECHECK_S` and
 * `PROCESS_RETRIES_LOOKUP_MAX_AGE_H`. A malformed value throws, like the other settings.
 */
export function refreshConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): RefreshConfig {
  return {
    maxPerRun: wholeNumber(
      env.PROCESS_RETRIES_LOOKUP_MAX,
      DEFAULT_LOOKUP_MAX_PER_RUN,
      "PROCESS_RETRIES_LOOKUP_MAX",
      { min: 0, max: MAX_LOOKUPS_PER_RUN },
    ),
    // At least a minute: a callback normally follows its status within seconds.
    queuedAfterS: wholeNumber(
      env.PROCESS_RETRIES_LOOKUP_QUEUED_S,
      DEFAULT_LOOKUP_QUEUED_AFTER_S,
      "PROCESS_RETRIES_LOOKUP_QUEUED_S",
      { min: 60, max: 30 * DAY_S },
    ),
    sentAfterS: wholeNumber(
      env.PROCESS_RETRIES_LOOKUP_SENT_S,
      DEFAULT_LOOKUP_SENT_AFTER_S,
      "PROCESS_RETRIES_LOOKUP_SENT_S",
      { min: 60, max: 30 * DAY_S },
    ),
    recheckS: wholeNumber(
      env.PROCESS_RETRIES_LOOKUP_RECHECK_S,
      DEFAULT_LOOKUP_RECHECK_S,
      "PROCESS_RETRIES_LOOKUP_RECHECK_S",
      { min: 60, max: 30 * DAY_S },
    ),
    maxAgeS: 3_600 * wholeNumber(
      env.PROCESS_RETRIES_LOOKUP_MAX_AGE_H,
      DEFAULT_LOOKUP_MAX_AGE_H,
      "PROCESS_RETRIES_LOOKUP_MAX_AGE_H",
      { min: 1, max: 24 * 90 },
    ),
  };
}

/**
 * How many logs to claim for lookups next: none once the run's lookups, its CPU plan or its
 * time to start work are used up; otherwise up to {@link LOOKUP_CLAIM_SIZE}.
 */
export function nextLookupClaim(args: {
  config: Pick<RefreshConfig, "maxPerRun">;
  /** Lookups this run already made. */
  done: number;
  /** Rows (or lookups) the run's and the worker's CPU plans still allow. */
  cpuRowsLeft: number;
  /** Whether the run's time budget still allows starting work. */
  canStart: boolean;
}): number {
  if (!args.canStart) return 0;
  const left = Math.min(args.config.maxPerRun - args.done, args.cpuRowsLeft);
  return Math.max(0, Math.min(LOOKUP_CLAIM_SIZE, left));
}

/** What to do with a log after its lookup. */
export type LookupOutcome =
  /** Apply Twilio's status (forward only), with its error code when it reports one. */
  | {
    kind: "status";
    status: string;
    errorCode: number | null;
    errorMessage: string | null;
    payload: Record<string, string>;
  }
  /** Twilio has no such message: the log ends failed with that reason. */
  | { kind: "not_found"; payload: Record<string, string> };

/** The payload kept with a lookup's event: what Twilio said, never numbers or text. */
function payloadOf(result: FetchMessageResult): Record<string, string> {
  if (!result.found) return { http_status: "404", code: "20404" };
  const m = result.message;
  const out: Record<string, string> = { status: m.status };
  if (m.errorCode !== null) out.error_code = String(m.errorCode);
  if (m.numSegments !== null) out.num_segments = String(m.numSegments);
  if (m.price !== null) out.price = m.price;
  if (m.priceUnit !== null && m.price !== null) out.price_unit = m.priceUnit;
  if (m.dateUpdated !== null) out.date_updated = m.dateUpdated.toISOString();
  return out;
}

/**
 * What a lookup's answer means. An error code counts only with a status that failed
 * (failed, undelivered): Twilio keeps no code on a message that is on its way.
 */
export function lookupOutcome(result: FetchMessageResult): LookupOutcome {
  const payload = payloadOf(result);
  if (!result.found) return { kind: "not_found", payload };
  const m = result.message;
  const failedStatus = ["failed", "undelivered", "partially_delivered"].includes(m.status);
  return {
    kind: "status",
    status: m.status,
    errorCode: failedStatus ? m.errorCode : null,
    errorMessage: failedStatus ? (m.errorMessage?.slice(0, 500) ?? null) : null,
    payload,
  };
}
