/**
 * The fate of one retry row, decided without I/O: before a send (consent, phone, quiet hours,
 * frequency cap) and after a failed one (retry with backoff, or end failed with the error's
 * effect). process-retries reads the facts, asks here, and carries the answer out through the
 * queue RPCs.
 *
 * @module
 */
import type { ComplianceReceipt } from "@shared/compliance/receipt.ts";
import {
  sendRefusal,
  sendWindow,
  type SendWindowOptions,
} from "@shared/compliance/send-decision.ts";
import { retryDelayMs, type TwilioErrorClassification } from "@shared/twilio/errors.ts";

/** What is known about a held row's recipient when it is about to be sent. */
export interface RetrySendFacts {
  /** `customers.sms_consent_status`. */
  consentStatus: string;
  /** The customer's current phone. */
  phone: string | null;
  /** `customers.phone_status`. */
  phoneStatus: string;
  timeZone: string | null;
  state: string | null;
  /** The number the send log was written for (null on logs older than the column). */
  logToPhone: string | null;
  /** Twilio sid already on the send log: the message went out. */
  logTwilioSid: string | null;
  /** When the customer's other SMS were handed to Twilio recently. */
  recentSends: readonly Date[];
  /** The business has no help contact (`businesses.sms_help_contact`): it may not send. */
  helpContactMissing?: boolean;
  /**
   * `businesses.sms_allowed_countries`, re-checked at send time (a permission withdrawn after
   * the message was queued cancels it); absent: not checked.
   */
  allowedCountries?: readonly string[] | null;
  /** Not sent after this instant (a campaign's expiry); null: no limit. */
  expiresAt?: Date | null;
}

/** Why a held row is cancelled instead of sent. */
export type RetryCancelReason =
  | "opted_out"
  | "no_consent"
  | "invalid_phone"
  | "country_not_permitted"
  | "phone_changed"
  | "help_contact_missing"
  | "expired";

/** What to do with a held row now. */
export type RetryDecision =
  | {
    action: "send";
    to: string;
    /** Seconds until the recipient's window closes (the message's longest `ValidityPeriod`). */
    windowSeconds: number | null;
    /** Why it may go now, for the send log. */
    receipt: ComplianceReceipt;
  }
  | { action: "cancel"; reason: RetryCancelReason }
  | { action: "reschedule"; reason: "quiet_hours" | "frequency_cap"; at: Date }
  | { action: "complete"; reason: "already_sent"; sid: string };

/** Options of {@link decideRetry}. */
export type DecideRetryOptions = Omit<SendWindowOptions, "recentSends">;

/**
 * Decides, at `now`, whether a held row may be sent. In order: a sid on the log means it already
 * went out (complete, never resend); consent gone, phone unusable or changed since the message
 * was written, or the business has no help contact → cancel; past the row's expiry (a campaign's),
 * or when the window opens only after it → cancel (never sent late); outside the recipient's
 * window or over a state's frequency cap →
 * reschedule to the first instant both allow (the row keeps its attempt); else send.
 */
export function decideRetry(
  facts: RetrySendFacts,
  now: Date,
  options: DecideRetryOptions = {},
): RetryDecision {
  if (facts.logTwilioSid) {
    return { action: "complete", reason: "already_sent", sid: facts.logTwilioSid };
  }
  const refusal = sendRefusal(facts);
  if (refusal) return { action: "cancel", reason: refusal };
  // As send-sms refuses it (help_contact_missing): cancelled, not held, so a business that
  // removes its contact does not build up a backlog that goes out at once when it adds one.
  if (facts.helpContactMissing) return { action: "cancel", reason: "help_contact_missing" };
  // Consent is evidence about the number it was given for; a message written for an old number
  // is not sent to the new one.
  if (facts.logToPhone && facts.logToPhone !== facts.phone) {
    return { action: "cancel", reason: "phone_changed" };
  }

  // A campaign message is never sent late: past its expiry, or when its window opens only after
  // it, it is cancelled.
  if (facts.expiresAt && now >= facts.expiresAt) return { action: "cancel", reason: "expired" };

  const window = sendWindow(
    { timeZone: facts.timeZone, state: facts.state, phone: facts.phone },
    now,
    { ...options, recentSends: facts.recentSends },
  );
  if (window.kind === "later" && facts.expiresAt && window.at >= facts.expiresAt) {
    return { action: "cancel", reason: "expired" };
  }
  return window.kind === "now"
    ? {
      action: "send",
      to: facts.phone!,
      windowSeconds: window.windowSeconds,
      receipt: window.receipt,
    }
    : { action: "reschedule", reason: window.reason, at: window.at };
}

export { validityPeriodFor } from "@shared/compliance/send-decision.ts";

/** The state of the row whose send failed. */
export interface FailedAttempt {
  /** Attempts used, including this one. */
  attempts: number;
  /** The row's own limit. */
  maxAttempts: number;
  /** When it failed (the backoff counts from here). */
  at: Date;
}

/** What to record for a failed attempt. */
export interface FailurePlan {
  /** End the row failed now (no further attempt). */
  permanent: boolean;
  /** When to try again (null when permanent). */
  retryAt: Date | null;
  /** The message may have reached Twilio: the next attempt reconciles first. */
  outcomeUncertain: boolean;
  /** Carry out the error's effect (opt-out, phone status, business alert, filtered content). */
  applyEffect: boolean;
  /** Twilio's error code, when there is one. */
  errorCode: number | null;
  /** Short text for `last_error` (never the message body). */
  error: string;
}

/** Options of {@link planFailure}. */
export interface PlanFailureOptions {
  /** Source of randomness for the backoff's jitter. */
  random?: () => number;
  /** Backoff base (default shared/twilio/errors.ts's 30 s). */
  baseMs?: number;
  /** Backoff cap (default 1 h). */
  maxMs?: number;
}

/**
 * Plans the bookkeeping of a failed attempt from its classification: retryable errors come back
 * after an exponential, jittered delay until the classification's or the row's attempts run out;
 * anything else ends failed with its effect applied. A failure whose outcome is uncertain is
 * marked so, whatever happens to the row.
 */
export function planFailure(
  classification: TwilioErrorClassification,
  attempt: FailedAttempt,
  options: PlanFailureOptions = {},
): FailurePlan {
  const now = attempt.at;
  const exhausted = attempt.attempts >= Math.min(attempt.maxAttempts, classification.maxAttempts);
  const permanent = !classification.retryable || exhausted;
  const error = classification.code !== null
    ? `${classification.description} (Twilio ${classification.code})`
    : classification.httpStatus !== null
    ? `${classification.description} (HTTP ${classification.httpStatus})`
    : classification.description;
  return {
    permanent,
    retryAt: permanent ? null : new Date(
      now.getTime() +
        retryDelayMs(attempt.attempts, {
          random: options.random,
          baseMs: options.baseMs,
          maxMs: options.maxMs,
        }),
    ),
    outcomeUncertain: classification.outcomeUncertain,
    applyEffect: !classification.retryable,
    errorCode: classification.code,
    error,
  };
}
