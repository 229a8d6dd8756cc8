/**
 * Whether a message may go to a customer, and when: the consent and phone rules (refusals) and
 * the timing rules (quiet hours, frequency cap). Pure, and the one place both send-sms and
 * process-retries take these answers from.
 *
 * @module
 */
import { type ComplianceReceipt, complianceReceipt } from "./receipt.ts";
import { SmsError } from "../contract/errors.ts";
import { isE164, type PhoneNumberInfo } from "./e164.ts";
import { countryPermitted } from "./countries.ts";
import { checkFrequencyCap, frequencyCapFor } from "./frequency-cap.ts";
import {
  checkQuietHours,
  type QuietHoursOptions,
  type QuietHoursRecipient,
} from "./quiet-hours.ts";

/** What the decision needs to know about the recipient. */
export interface SendCustomer {
  phone: string | null;
  /** `customers.phone_status`. */
  phoneStatus: string;
  /** `customers.sms_consent_status`. */
  consentStatus: string;
  timeZone: string | null;
  state: string | null;
  /**
   * The number as its numbering plan describes it (`describePhone`, libphonenumber): `null` when
   * it is not a valid number, which is refused as `invalid_phone`. The type (mobile, landline,
   * toll-free…) is here for rules to come; no decision uses it yet. Absent when the caller did not
   * read the plan: process-retries, whose row send-sms accepted for this very number (a changed
   * number cancels the retry), so libphonenumber stays out of its module graph.
   */
  number?: PhoneNumberInfo | null;
  /**
   * The countries the business may text (`businesses.sms_allowed_countries`); absent: not
   * checked (callers that have it always pass it).
   */
  allowedCountries?: readonly string[] | null;
}

/** Why a customer may not be texted at all. */
export type SendRefusal = "opted_out" | "no_consent" | "invalid_phone" | "country_not_permitted";

const REFUSAL_MESSAGES: Record<SendRefusal, string> = {
  opted_out: "The customer has opted out of SMS",
  no_consent: "The customer has not consented to SMS",
  invalid_phone: "The customer has no mobile number that can receive SMS",
  country_not_permitted: "The business may not text numbers in the customer's country",
};

/** The reason a customer may not be texted, or `null` when they may. */
export function sendRefusal(customer: SendCustomer): SendRefusal | null {
  if (customer.consentStatus === "opted_out") return "opted_out";
  if (customer.consentStatus !== "opted_in") return "no_consent";
  if (
    !customer.phone || !isE164(customer.phone) || customer.number === null ||
    customer.phoneStatus === "invalid" || customer.phoneStatus === "landline"
  ) {
    return "invalid_phone";
  }
  if (
    customer.allowedCountries &&
    !countryPermitted(
      customer.phone,
      customer.allowedCountries,
      customer.number === undefined ? undefined : customer.number.country,
    )
  ) {
    return "country_not_permitted";
  }
  return null;
}

/** Throws the contract error for a customer that may not be texted. */
export function assertSendable(customer: SendCustomer): void {
  const refusal = sendRefusal(customer);
  if (refusal) throw new SmsError(refusal, REFUSAL_MESSAGES[refusal]);
}

/** When the timing rules let a message go. */
export type SendWindow =
  | {
    kind: "now";
    /** Seconds until the recipient's window closes (`null`: no end in sight). */
    windowSeconds: number | null;
    /** Why it may go now, for the send log. */
    receipt: ComplianceReceipt;
  }
  | { kind: "later"; reason: "quiet_hours" | "frequency_cap"; at: Date };

/** Options of {@link sendWindow}. */
export interface SendWindowOptions {
  /** When messages to this recipient went out recently (for the frequency cap). */
  recentSends?: readonly Date[];
  quietHours?: QuietHoursOptions;
  /** Where no window opens within the rules' horizon: look again this much later (1 day). */
  noWindowRetryMs?: number;
}

const DAY_MS = 86_400_000;

/**
 * Now, if the recipient's quiet hours and frequency cap both allow it; otherwise the first
 * instant both allow (moving past whichever blocks until neither does).
 */
export function sendWindow(
  recipient: QuietHoursRecipient,
  now: Date,
  options: SendWindowOptions = {},
): SendWindow {
  const recent = options.recentSends ?? [];
  const quiet = checkQuietHours(recipient, now, options.quietHours);
  const cap = frequencyCapFor(recipient, options.quietHours);
  const capCheck = cap ? checkFrequencyCap(recent, now, cap) : null;
  if (quiet.allowed && (capCheck === null || capCheck.allowed)) {
    const windowSeconds = quiet.windowEndsAt
      ? Math.floor((quiet.windowEndsAt.getTime() - now.getTime()) / 1000)
      : null;
    const counted = cap ? { rule: cap, counted: capCheck!.count } : null;
    return { kind: "now", windowSeconds, receipt: complianceReceipt(quiet, now, counted) };
  }
  const reason = quiet.allowed ? "frequency_cap" : "quiet_hours";
  const fallback = new Date(now.getTime() + (options.noWindowRetryMs ?? DAY_MS));
  let at = now;
  for (let i = 0; i < 8; i++) {
    const q = checkQuietHours(recipient, at, options.quietHours);
    if (!q.allowed) {
      if (!q.nextAllowedAt) return { kind: "later", reason, at: fallback };
      at = q.nextAllowedAt;
      continue;
    }
    const c = cap ? checkFrequencyCap(recent, at, cap) : null;
    if (c && !c.allowed) {
      at = c.nextAllowedAt;
      continue;
    }
    break;
  }
  return { kind: "later", reason, at };
}

/** The `ValidityPeriod` to send with: the configured one, shortened to the window's end. */
export function validityPeriodFor(windowSeconds: number | null, configured: number): number {
  const limit = windowSeconds === null ? configured : Math.min(configured, windowSeconds);
  return Math.max(1, Math.min(36_000, Math.floor(limit)));
}

/** The outcome for a new message: send now (within a validity period) or defer. */
export type SendDecision =
  | { kind: "send"; validityPeriod: number; receipt: ComplianceReceipt }
  | { kind: "defer"; reason: "quiet_hours" | "frequency_cap"; scheduledFor: Date };

/** Inputs besides the customer. */
export interface DecideSendOptions extends SendWindowOptions {
  now: Date;
  /** Longest `ValidityPeriod` to give Twilio, in seconds (default 3600). */
  maxValidityPeriod?: number;
}

/** Decides send-now or defer; throws {@link SmsError} for a customer that may not be texted. */
export function decideSend(customer: SendCustomer, options: DecideSendOptions): SendDecision {
  assertSendable(customer);
  const window = sendWindow(
    {
      timeZone: customer.timeZone,
      state: customer.state,
      phone: customer.phone,
      country: customer.number?.country ?? null,
    },
    options.now,
    options,
  );
  if (window.kind === "later") {
    return { kind: "defer", reason: window.reason, scheduledFor: window.at };
  }
  return {
    kind: "send",
    validityPeriod: validityPeriodFor(window.windowSeconds, options.maxValidityPeriod ?? 3600),
    receipt: window.receipt,
  };
}
