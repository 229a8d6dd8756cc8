/**
 * Consent and phone states of a customer record (`customers.sms_consent_status`, `phone_status`).
 *
 * @module
 */

/** Consent states of a customer's phone number (`customers.sms_consent_status`). */
export const CONSENT_STATUSES = ["unknown", "opted_in", "opted_out"] as const;

/** A customer's consent state for SMS. */
export type ConsentStatus = (typeof CONSENT_STATUSES)[number];

/** Where a consent change came from (`sms_consent_events.source`). */
export type ConsentSource = "keyword" | "api" | "import" | "provider_error";

/** What is known about a customer's phone (`customers.phone_status`). */
export type PhoneStatus = "unknown" | "valid" | "invalid" | "landline";
