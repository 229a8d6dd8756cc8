/**
 * E.164 syntax, without any numbering-plan data: `+`, then 8 to 15 digits, no leading 0: what
 * `customers.phone`'s check and Twilio's API accept. Whether such a number exists (a country code
 * in use, a length and range its plan allows) is `phone.ts`'s question, answered by
 * libphonenumber-js; modules that only need the syntax import this one, so libphonenumber's
 * metadata stays out of their functions' module graphs (process-retries).
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
