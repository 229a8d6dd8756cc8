/**
 * Whether a message may go to a customer now: consent, opt-out and phone first (refusals), then
 * the recipient's quiet hours and frequency cap (deferrals). Pure: send-sms and process-retries
 * give it the customer, the instant and the recent send times.
 *
 * @module
 */
import { SmsError } from "./errors.ts";
import { isE164 } from "./phone.ts";
import {
  checkFrequencyCap,
  checkQuietHours,
  frequencyCapFor,
  type QuietHoursOptions,
  type QuietHoursRecipient,
} from "./quiet-hours.ts";
import type { ConsentStatus, PhoneStatus } from "./types.ts";

/** What the decision needs to know about the recipient. */
export interface SendCustomer {
  phone: string | null;
  phoneStatus: PhoneStatus;
  consentStatus: ConsentStatus;
  timeZone: string | null;
  state: string | null;
}

/** The outcome: send now (within a validity period) or defer until an instant. */
export type SendDecision =
  | { kind: "send"; validityPeriod: number; windowEndsAt: Date | null }
  | { kind: "defer"; reason: "quiet_hours" | "frequency_cap"; scheduledFor: Date };

/** Inputs besides the customer. */
export interface DecideSendOptions {
  now: Date;
  /** When messages to this recipient went out recently (for the frequency cap). */
  recentSends?: readonly Date[];
  /** Longest `ValidityPeriod` to give Twilio, in seconds (default 3600). */
  maxValidityPeriod?: number;
  quietHours?: QuietHoursOptions;
}

// A recipient with no window in the rules' horizon is looked at again a day later.
const NO_WINDOW_RETRY_MS = 24 * 3_600_000;

/** Throws the refusal for a customer that may not be texted at all, else returns nothing. */
export function assertSendable(customer: SendCustomer): void {
  if (customer.consentStatus === "opted_out") {
    throw new SmsError("opted_out", "The customer has opted out of SMS");
  }
  if (customer.consentStatus !== "opted_in") {
    throw new SmsError("no_consent", "The customer has not consented to SMS");
  }
  if (
    !customer.phone || !isE164(customer.phone) ||
    customer.phoneStatus === "invalid" || customer.phoneStatus === "landline"
  ) {
    throw new SmsError("invalid_phone", "The customer has no mobile number that can receive SMS");
  }
}

/** Decides send-now or defer; throws {@link SmsError} for a customer that may not be texted. */
export function decideSend(customer: SendCustomer, options: DecideSendOptions): SendDecision {
  assertSendable(customer);
  const recipient: QuietHoursRecipient = {
    timeZone: customer.timeZone,
    state: customer.state,
    phone: customer.phone,
  };
  const { now } = options;
  const quiet = checkQuietHours(recipient, now, options.quietHours);
  if (!quiet.allowed) {
    return {
      kind: "defer",
      reason: "quiet_hours",
      scheduledFor: quiet.nextAllowedAt ?? new Date(now.getTime() + NO_WINDOW_RETRY_MS),
    };
  }
  const cap = frequencyCapFor(recipient, options.quietHours);
  if (cap) {
    const capped = checkFrequencyCap(options.recentSends ?? [], now, cap);
    if (!capped.allowed) {
      // The cap's next slot may itself fall in quiet hours: move on to the next open window.
      const later = checkQuietHours(recipient, capped.nextAllowedAt, options.quietHours);
      return {
        kind: "defer",
        reason: "frequency_cap",
        scheduledFor: later.allowed ? capped.nextAllowedAt : later.nextAllowedAt ??
          new Date(capped.nextAllowedAt.getTime() + NO_WINDOW_RETRY_MS),
      };
    }
  }
  const maxValidity = options.maxValidityPeriod ?? 3600;
  const left = quiet.windowEndsAt
    ? Math.floor((quiet.windowEndsAt.getTime() - now.getTime()) / 1000)
    : maxValidity;
  return {
    kind: "send",
    validityPeriod: Math.max(1, Math.min(maxValidity, left)),
    windowEndsAt: quiet.windowEndsAt,
  };
}
