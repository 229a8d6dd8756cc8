/**
 * Twilio error code → what to do about it: retry or not, what it says about the number, the
 * message or the business, and how send-sms reports it.
 *
 * Codes come from two places: the REST API when a message is created (21xxx, 20xxx, HTTP 429 and
 * 5xx) and status callbacks when delivery fails later (30xxx). Reference:
 * https://www.twilio.com/docs/api/errors
 *
 * @module
 */

import type { DeferReason } from "../contract/schemas.ts";
import type { ErrorCode } from "../contract/errors.ts";
import type { PhoneStatus } from "../compliance/consent.ts";

/** What an error means for the recipient, the message or the account. */
export type TwilioErrorEffect =
  /** The recipient replied STOP to this sender: record an opt-out. */
  | "opted_out"
  /** Not a valid (mobile) number: mark the phone invalid. */
  | "invalid_number"
  /** A landline or a number that cannot receive SMS. */
  | "landline"
  /** Twilio cannot route to this number right now (21612): fail this message, keep the number. */
  | "unroutable"
  /** The handset was unreachable (30003): retry a few times. */
  | "unreachable"
  /** Carrier or Twilio blocked the message (30004). */
  | "blocked"
  /** Carrier filtered the content (30007): never resend the same text. */
  | "content_filtered"
  /** Sender not registered for A2P 10DLC / toll-free not verified: business-level alert. */
  | "sender_not_registered"
  /** Geo permissions or account configuration forbid this send: business-level alert. */
  | "account_misconfigured"
  /** The body is too long for Twilio (21617). */
  | "message_too_long"
  /** Too many requests (20429, HTTP 429): back off. */
  | "rate_limited"
  /** Twilio or the network failed (5xx, timeouts, 30008): back off and retry. */
  | "provider_unavailable"
  /** A code this table does not know: do not retry, log it. */
  | "unknown";

/** Classification of one failure. */
export interface TwilioErrorClassification {
  /** Twilio error code, when there is one. */
  code: number | null;
  /** HTTP status of the API answer, when there is one. */
  httpStatus: number | null;
  retryable: boolean;
  effect: TwilioErrorEffect;
  /** Attempts (including the first) after which a retryable error becomes final. */
  maxAttempts: number;
  /** Needs a human at the business (registration, permissions, credentials). */
  alert: boolean;
  /** The same body must never be sent again (content filtering). */
  neverResendBody: boolean;
  /** Twilio may have accepted the message before the failure (timeout, dropped connection). */
  outcomeUncertain: boolean;
  /** How send-sms reports it when it is (or becomes) final. */
  errorCode: ErrorCode;
  /** How send-sms defers it while it is retryable. */
  deferReason: DeferReason | null;
  /** What to record as the customer's `phone_status`, when the error says something about it. */
  phoneStatus: PhoneStatus | null;
  /** Short description for logs. */
  description: string;
}

/** Input of {@link classifyTwilioError}: whatever is known about a failure. */
export interface TwilioFailure {
  /** Twilio error code (`code` of the REST error, `ErrorCode` of a callback). */
  code?: number | string | null;
  /** HTTP status of the REST answer. */
  httpStatus?: number | null;
  /** The request never got an HTTP answer (DNS, refused, reset, timeout). */
  network?: boolean;
  /** The request timed out after it was sent. */
  timeout?: boolean;
}

type Entry = Pick<
  TwilioErrorClassification,
  "retryable" | "effect" | "maxAttempts" | "alert" | "neverResendBody" | "errorCode" | "description"
>;

const DEFAULT_MAX_ATTEMPTS = 5;

function final(
  effect: TwilioErrorEffect,
  errorCode: ErrorCode,
  description: string,
  extra: Partial<Entry> = {},
): Entry {
  return {
    retryable: false,
    effect,
    maxAttempts: 1,
    alert: false,
    neverResendBody: false,
    errorCode,
    description,
    ...extra,
  };
}

function retry(effect: TwilioErrorEffect, description: string, maxAttempts: number): Entry {
  return {
    retryable: true,
    effect,
    maxAttempts,
    alert: false,
    neverResendBody: false,
    errorCode: "provider_rejected",
    description,
  };
}

const TABLE: ReadonlyMap<number, Entry> = new Map<number, Entry>([
  [21610, final("opted_out", "opted_out", "recipient has opted out (replied STOP)")],
  [21211, final("invalid_number", "invalid_phone", "invalid 'To' phone number")],
  [21614, final("invalid_number", "invalid_phone", "'To' number is not a valid mobile number")],
  [30005, final("invalid_number", "invalid_phone", "unknown destination handset")],
  [30006, final("landline", "invalid_phone", "landline or unreachable carrier")],
  [21635, final("landline", "invalid_phone", "'To' number cannot be a landline")],
  [21612, final("unroutable", "provider_rejected", "cannot route to this number")],
  [30003, retry("unreachable", "unreachable destination handset", 3)],
  [30004, final("blocked", "provider_rejected", "message blocked")],
  [
    30007,
    final("content_filtered", "provider_rejected", "message filtered by the carrier", {
      neverResendBody: true,
    }),
  ],
  [30008, retry("provider_unavailable", "unknown delivery error", DEFAULT_MAX_ATTEMPTS)],
  [
    30034,
    final("sender_not_registered", "provider_rejected", "sender not registered for A2P 10DLC", {
      alert: true,
    }),
  ],
  [
    30032,
    final("sender_not_registered", "provider_rejected", "toll-free number not verified", {
      alert: true,
    }),
  ],
  [
    21408,
    final("account_misconfigured", "provider_rejected", "no permission to send to this region", {
      alert: true,
    }),
  ],
  [
    21606,
    final("account_misconfigured", "provider_rejected", "'From' is not an SMS-capable number", {
      alert: true,
    }),
  ],
  [
    20003,
    final("account_misconfigured", "provider_rejected", "Twilio authentication failed", {
      alert: true,
    }),
  ],
  [21617, final("message_too_long", "message_too_long", "body exceeds 1600 characters")],
  [20429, retry("rate_limited", "too many requests", DEFAULT_MAX_ATTEMPTS)],
]);

function toCode(code: TwilioFailure["code"]): number | null {
  if (code === null || code === undefined || code === "") return null;
  const n = typeof code === "number" ? code : Number(code);
  return Number.isInteger(n) ? n : null;
}

/**
 * Classifies a failure from its Twilio code, HTTP status, or the absence of an answer.
 *
 * Known codes win; then HTTP 429 and 5xx and network failures retry with backoff; anything else
 * is not retryable and should be logged as `unknown`.
 */
export function classifyTwilioError(failure: TwilioFailure): TwilioErrorClassification {
  const code = toCode(failure.code);
  const httpStatus = failure.httpStatus ?? null;
  const known = code === null ? undefined : TABLE.get(code);
  let entry: Entry;
  let outcomeUncertain = false;
  if (known) {
    entry = known;
  } else if (httpStatus === 429) {
    entry = retry("rate_limited", "too many requests", DEFAULT_MAX_ATTEMPTS);
  } else if (httpStatus !== null && httpStatus >= 500) {
    entry = retry(
      "provider_unavailable",
      `Twilio answered HTTP ${httpStatus}`,
      DEFAULT_MAX_ATTEMPTS,
    );
  } else if (failure.network || failure.timeout) {
    entry = retry(
      "provider_unavailable",
      failure.timeout ? "request timed out" : "network error",
      DEFAULT_MAX_ATTEMPTS,
    );
    // Without an answer we cannot know whether Twilio created the message.
    outcomeUncertain = true;
  } else {
    entry = final(
      "unknown",
      "provider_rejected",
      code === null ? `Twilio error (HTTP ${httpStatus ?? "?"})` : `Twilio error ${code}`,
    );
  }
  return {
    code,
    httpStatus,
    ...entry,
    outcomeUncertain,
    deferReason: entry.retryable
      ? (entry.effect === "rate_limited" ? "rate_limited" : "provider_unavailable")
      : null,
    phoneStatus: entry.effect === "invalid_number"
      ? "invalid"
      : entry.effect === "landline"
      ? "landline"
      : null,
  };
}

/** Options of {@link retryDelayMs}. */
export interface BackoffOptions {
  /** Delay before the second attempt, before jitter. Default 30 s. */
  baseMs?: number;
  /** Upper bound of any delay. Default 1 h. */
  maxMs?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failed attempts (1-based): exponential
 * (base · 2^(attempt-1), capped) with "equal jitter" — half fixed, half random — so that
 * synchronised failures spread out but never retry immediately.
 */
export function retryDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 30_000;
  const max = options.maxMs ?? 3_600_000;
  const random = options.random ?? Math.random;
  const exponent = Math.max(0, Math.min(Math.floor(attempt) - 1, 30));
  const ceiling = Math.min(max, base * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Whether another attempt is due for a classification after `attempts` attempts. */
export function shouldRetry(classification: TwilioErrorClassification, attempts: number): boolean {
  return classification.retryable && attempts < classification.maxAttempts;
}
