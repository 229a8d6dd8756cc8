/**
 * E.164 syntax, without any numbering-plan data: `+`, then 8 to 15 digits, no leading 0: what
 * `customers.phone`'s check and Twilio's API accept; and the shapes `phone.ts` describes numbers
 * with. Whether such a number exists (a country code in use, a length and range its plan allows)
 * is `phone.ts`'s question, answered by libphonenumber-js; modules that only need the syntax or
 * the types import this one, so libphonenumber stays out of their functions' module graphs
 * (process-retries).
 *
 * @module
 */

// 8 to 15 digits: the shortest numbers in service have 8 with their country code (and the
// database's check agrees).
const E164 = /^\+[1-9]\d{7,14}$/;

/** Whether a string is already an E.164 number (`+`, then 8 to 15 digits, no leading 0). */
export function isE164(value: string): boolean {
  return E164.test(value);
}

/**
 * What kind of line a number is, as its numbering plan says (libphonenumber's types in
 * snake_case). `fixed_line_or_mobile`: plans that do not tell them apart (the NANP); `unknown`: a
 * valid number in a range the metadata does not type.
 */
export type PhoneNumberType =
  | "mobile"
  | "fixed_line"
  | "fixed_line_or_mobile"
  | "toll_free"
  | "premium_rate"
  | "shared_cost"
  | "voip"
  | "personal_number"
  | "pager"
  | "uan"
  | "voicemail"
  | "unknown";

/** A valid number, as its numbering plan describes it. */
export interface PhoneNumberInfo {
  e164: string;
  /** ISO 3166-1 alpha-2 country, `null` for non-geographic numbers (+800, +882…). */
  country: string | null;
  type: PhoneNumberType;
}
