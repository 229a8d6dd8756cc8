/**
 * Types shared by the three Edge Functions, the frontend and the tests.
 *
 * Only declarations and small constant tables live here, so that every other module (and the
 * browser bundle) can import it without pulling in any behaviour.
 *
 * @module
 */

/** Error codes of the HTTP contracts, each with a fixed HTTP status (see {@link ERROR_STATUS}). */
export type ErrorCode =
  | "invalid_request"
  | "unauthorized"
  | "forbidden"
  | "customer_not_found"
  | "no_consent"
  | "opted_out"
  | "idempotency_conflict"
  | "invalid_phone"
  | "message_too_long"
  | "provider_rejected"
  | "quota_exceeded"
  | "sms_disabled"
  | "internal";

/** HTTP status for every {@link ErrorCode}. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  invalid_request: 400,
  unauthorized: 401,
  // twilio-webhook answers 403 for a bad signature (DESIGN.md, "Auth").
  forbidden: 403,
  customer_not_found: 404,
  no_consent: 409,
  opted_out: 409,
  // The key was used for another request, or its first request is still running.
  idempotency_conflict: 409,
  invalid_phone: 422,
  message_too_long: 422,
  provider_rejected: 422,
  quota_exceeded: 429,
  sms_disabled: 503,
  internal: 500,
});

/** The JSON error body every function answers with. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** Message encodings an SMS can use. */
export type SmsEncoding = "GSM-7" | "UCS-2";

/**
 * Twilio message statuses, as they appear in API responses and `MessageStatus` callbacks.
 * See https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
 */
export const MESSAGE_STATUSES = [
  "queued",
  "accepted",
  "scheduled",
  "sending",
  "sent",
  "delivered",
  "undelivered",
  "failed",
  "read",
  "canceled",
  "partially_delivered",
  "receiving",
  "received",
] as const;

/** A Twilio message status. */
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses of an SMS send log: Twilio's outbound statuses plus our own `deferred`. */
export const SMS_SEND_LOG_STATUSES = [
  "deferred",
  "queued",
  "sending",
  "sent",
  "delivered",
  "undelivered",
  "failed",
  "canceled",
  "read",
] as const;

/** Status of an SMS send log (`send_logs.status` for channel `sms`). */
export type SmsSendLogStatus = (typeof SMS_SEND_LOG_STATUSES)[number];

/** Any status a send log or a Twilio callback can carry. */
export type SmsStatus = MessageStatus | SmsSendLogStatus;

/** Consent states of a customer's phone number (`customers.sms_consent_status`). */
export const CONSENT_STATUSES = ["unknown", "opted_in", "opted_out"] as const;

/** A customer's consent state for SMS. */
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

/** Where a consent change came from (`sms_consent_events.source`). */
export type ConsentSource = "keyword" | "api" | "import" | "provider_error";

/** What is known about a customer's phone (`customers.phone_status`). */
export type PhoneStatus = "unknown" | "valid" | "invalid" | "landline";

/** What an inbound reply means, see `keywords.ts`. */
export type KeywordClass = "opt_out" | "opt_in" | "help" | "other";

/** Why a send was deferred instead of sent (the 202 contract of send-sms). */
export type DeferReason = "quiet_hours" | "frequency_cap" | "provider_unavailable" | "rate_limited";

/** Parameters of one outbound message as handed to the Twilio client. */
export interface SendSmsParams {
  /** Recipient in E.164. */
  to: string;
  /** Message text, already validated. */
  body: string;
  /** Overrides the configured status callback URL for this message. */
  statusCallback?: string;
  /** Seconds Twilio may keep the message queued (1..36000); past it, the message fails. */
  validityPeriod?: number;
}

/** What Twilio answered when it accepted a message. */
export interface SendSmsResult {
  /** Twilio's message sid ("SM…"). */
  sid: string;
  /** Status at creation, usually "queued" or "accepted". */
  status: MessageStatus;
  /** Segments Twilio counted (falls back to our own count when Twilio omits it). */
  segments: number;
  /** Encoding we computed for the body. */
  encoding: SmsEncoding;
}

/** Which rule closed the window, when sending is not allowed. */
export type QuietHoursReason =
  | "federal_quiet_hours"
  | "state_quiet_hours"
  | "business_hours"
  | "no_common_window";

/** Result of a quiet-hours check for one recipient at one instant. */
export interface QuietHoursResult {
  /** True when a message may be sent now. */
  allowed: boolean;
  /** The binding rule when not allowed; `null` when allowed. */
  reason: QuietHoursReason | null;
  /** When allowed: the end of the current window (exclusive). Otherwise `null`. */
  windowEndsAt: Date | null;
  /** When the next window opens (`now` itself when allowed); `null` if none within a week. */
  nextAllowedAt: Date | null;
  /** Candidate IANA time zones the decision considered. */
  timeZones: string[];
  /** Candidate states/provinces the decision considered. */
  regions: string[];
  /** True when zone or state came from the area code or a fallback, not the customer record. */
  uncertain: boolean;
}

/** Body of a send-sms request (`parseSendSmsRequest` in `validation.ts` produces it). */
export interface SendSmsRequest {
  customerId: string;
  body: string;
  idempotencyKey?: string;
}

/** 200 answer of send-sms. */
export interface SendSmsSentResponse {
  status: "sent";
  sendLogId: string;
  providerMessageId: string;
  segments: number;
  encoding: SmsEncoding;
}

/** 202 answer of send-sms. */
export interface SendSmsDeferredResponse {
  status: "deferred";
  sendLogId: string;
  retryId: string;
  reason: DeferReason;
  /** ISO 8601 instant. */
  scheduledFor: string;
}

/** Any successful answer of send-sms. */
export type SendSmsResponse = SendSmsSentResponse | SendSmsDeferredResponse;

/** Answer of process-retries. */
export interface ProcessRetriesResult {
  claimed: number;
  sent: number;
  deferred: number;
  failed: number;
  skipped: number;
}
