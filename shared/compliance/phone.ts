/**
 * Phone numbers: parsing, validation and number types through libphonenumber-js (Google's
 * numbering-plan metadata, `max` flavour: the only one that knows types in every country), and
 * where a North American number is (from its area code, see `area-codes.ts`).
 *
 * Ours on top of libphonenumber: what a typed number may contain (letters and extensions are
 * refused, not guessed), the international prefixes `00` and `011`, E.164's 8 to 15 digits (the
 * database's check), and the precise reasons for a malformed North American number.
 *
 * Twilio's test numbers (`+15005550001`…`+15005550009`) are valid here: area code 500 is a NANP
 * personal-communications code, so libphonenumber types them `personal_number` and they pass
 * like any assigned number (tests/shared/phone.test.ts pins it).
 *
 * @module
 */

import {
  type CountryCode,
  type NumberType,
  parsePhoneNumberFromString as parseWith,
  type PhoneNumber,
  validatePhoneNumberLength as lengthWith,
} from "libphonenumber-js/core";
import metadata from "libphonenumber-js/metadata.max.json";
import { isE164, type PhoneNumberInfo, type PhoneNumberType } from "./e164.ts";

// The core functions with the `max` metadata given, rather than `libphonenumber-js/max`: the
// same calls, but `max`'s entry also loads a bound copy of every other export (4 ms of each
// worker's boot on the edge runtime's Deno, median: docs/decisions.md, fourteenth round).
function parsePhoneNumberFromString(text: string, country?: CountryCode) {
  return parseWith(text, { defaultCountry: country }, metadata);
}
function validatePhoneNumberLength(text: string, country?: CountryCode) {
  return lengthWith(text, { defaultCountry: country }, metadata);
}

export type { AreaCodeInfo } from "./area-codes.ts";
export { areaCodeOf, listAreaCodes, locatePhone, lookupAreaCode } from "./area-codes.ts";
export { isE164, type PhoneNumberInfo, type PhoneNumberType } from "./e164.ts";

/** Countries {@link normalizePhone} accepts as default for numbers written without a prefix. */
export const SUPPORTED_COUNTRIES = {
  US: { callingCode: "1" },
  CA: { callingCode: "1" },
  PR: { callingCode: "1" },
  GB: { callingCode: "44" },
  IE: { callingCode: "353" },
  AU: { callingCode: "61" },
  NZ: { callingCode: "64" },
  DE: { callingCode: "49" },
  FR: { callingCode: "33" },
  ES: { callingCode: "34" },
  IT: { callingCode: "39" },
  NL: { callingCode: "31" },
  BE: { callingCode: "32" },
  MX: { callingCode: "52" },
  BR: { callingCode: "55" },
  IN: { callingCode: "91" },
} as const;

/** A country code {@link normalizePhone} accepts as default. */
export type SupportedCountry = keyof typeof SUPPORTED_COUNTRIES;

/** Options of {@link normalizePhone}. */
export interface NormalizePhoneOptions {
  /** Country assumed for numbers written without a `+` prefix. Default "US". */
  defaultCountry?: SupportedCountry;
}

/** Why a phone number could not be normalised. */
export type PhoneErrorReason =
  | "empty"
  | "invalid_characters"
  | "too_short"
  | "too_long"
  | "invalid_country_code"
  | "invalid_nanp_number"
  | "invalid_number";

/** Result of {@link normalizePhone}. */
export type NormalizePhoneResult =
  | ({ ok: true } & PhoneNumberInfo)
  | { ok: false; reason: PhoneErrorReason; message: string };

function fail(reason: PhoneErrorReason, message: string): NormalizePhoneResult {
  return { ok: false, reason, message };
}

const TYPES: Readonly<Record<NumberType & string, PhoneNumberType>> = {
  MOBILE: "mobile",
  FIXED_LINE: "fixed_line",
  FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
  TOLL_FREE: "toll_free",
  PREMIUM_RATE: "premium_rate",
  SHARED_COST: "shared_cost",
  VOIP: "voip",
  PERSONAL_NUMBER: "personal_number",
  PAGER: "pager",
  UAN: "uan",
  VOICEMAIL: "voicemail",
};

function info(number: PhoneNumber): PhoneNumberInfo {
  const type = number.getType();
  return {
    e164: number.number,
    country: number.country ?? null,
    type: (type && TYPES[type]) ?? "unknown",
  };
}

// NANP: area code and exchange both start with 2-9; N11 codes are service codes, not areas.
function nanpProblem(national: string): string | null {
  if (national.length !== 10) return "a North American number has 10 digits after the 1";
  if (!/^[2-9]\d{2}[2-9]\d{6}$/.test(national)) {
    return "area code and exchange of a North American number cannot start with 0 or 1";
  }
  if (national[1] === "1" && national[2] === "1") return "N11 codes are not area codes";
  return null;
}

/** The reason libphonenumber gives for a number that is not valid, as ours. */
function invalidReason(text: string, country?: SupportedCountry): NormalizePhoneResult {
  switch (validatePhoneNumberLength(text, country)) {
    case "INVALID_COUNTRY":
      return fail("invalid_country_code", "no country uses this country code");
    case "TOO_SHORT":
      return fail("too_short", "phone number is too short for its country");
    case "TOO_LONG":
      return fail("too_long", "phone number is too long for its country");
    case "NOT_A_NUMBER":
      return fail("too_short", "phone number is too short");
    default:
      return fail("invalid_number", "phone number is not in service in its country's plan");
  }
}

/**
 * Normalises a phone number as people type it (`(415) 555-2671`, `415.555.2671`,
 * `+44 20 7946 0958`, `011 44 20…`, `00 44 20…`) to E.164, with its country and type.
 *
 * Numbers with a `+`, `00` or `011` prefix are international; anything else is read in the
 * default country (its trunk prefix and national rules, by libphonenumber). Letters, extensions
 * and stray symbols are rejected rather than guessed; so is a number its country's plan does
 * not have (an unassigned country code, a wrong length, a range not in service).
 */
export function normalizePhone(
  input: string,
  options: NormalizePhoneOptions = {},
): NormalizePhoneResult {
  const country = options.defaultCountry ?? "US";
  if (typeof input !== "string") return fail("invalid_characters", "phone must be a string");
  const trimmed = input.trim();
  if (trimmed === "") return fail("empty", "phone is empty");
  if (!/^\+?[\d\s().\-\u00a0\u2010-\u2015]+$/.test(trimmed)) {
    return fail("invalid_characters", "phone may contain only digits, spaces, ( ) . - and a +");
  }
  let digits = trimmed.replace(/\D/g, "");
  let international = trimmed.startsWith("+");
  if (!international && digits.startsWith("00")) {
    digits = digits.slice(2);
    international = true;
  } else if (
    !international && SUPPORTED_COUNTRIES[country].callingCode === "1" && digits.startsWith("011")
  ) {
    digits = digits.slice(3);
    international = true;
  }
  if (international && digits.startsWith("0")) {
    return fail("invalid_country_code", "country code cannot be 0");
  }
  if (digits.length > 17) return fail("too_long", "phone number is longer than 15 digits");

  // North American numbers keep our reading of the digits as typed (a `1` and ten digits, the
  // old rules' precise reasons); libphonenumber then says whether the range is in service.
  const nanp = international
    ? digits.startsWith("1")
    : SUPPORTED_COUNTRIES[country].callingCode === "1";
  if (nanp) {
    const e164Digits = international || (digits.length === 11 && digits.startsWith("1"))
      ? digits
      : "1" + digits;
    if (e164Digits.length < 8) return fail("too_short", "phone number is too short");
    if (e164Digits.length > 15) return fail("too_long", "phone number is longer than 15 digits");
    const problem = nanpProblem(e164Digits.slice(1));
    if (problem) return fail("invalid_nanp_number", problem);
    const number = parsePhoneNumberFromString(`+${e164Digits}`);
    if (!number?.isValid() || number.number !== `+${e164Digits}`) {
      return fail("invalid_nanp_number", "the area code or exchange is not in service");
    }
    return { ok: true, ...info(number) };
  }

  if (international && digits.length < 8) return fail("too_short", "phone number is too short");
  const text = international ? `+${digits}` : digits;
  const defaultCountry = international ? undefined : country;
  const number = parsePhoneNumberFromString(text, defaultCountry);
  if (!number) return invalidReason(text, defaultCountry);
  const e164Digits = number.number.slice(1);
  if (e164Digits.length < 8) return fail("too_short", "phone number is too short");
  if (e164Digits.length > 15) return fail("too_long", "phone number is longer than 15 digits");
  if (!number.isValid()) return invalidReason(text, defaultCountry);
  return { ok: true, ...info(number) };
}

/**
 * Describes a stored E.164 number: its country and type, or `null` when it is not a valid number
 * (not E.164, an unassigned country code, a wrong length or a range its plan does not have).
 */
export function describePhone(e164: string): PhoneNumberInfo | null {
  if (typeof e164 !== "string" || !isE164(e164)) return null;
  const number = parsePhoneNumberFromString(e164);
  return number?.isValid() && number.number === e164 ? info(number) : null;
}

/** A number as a carrier hands it over (Twilio's `From` and `To`), read against its plan. */
export interface PhoneNumberReading {
  e164: string;
  /** ISO 3166-1 alpha-2 country, `null` for non-geographic numbers or an unknown range. */
  country: string | null;
  /** Whether the plan has the number's range (libphonenumber's `isValid`). */
  valid: boolean;
  /** The number's type when it is valid, else `null`. */
  type: PhoneNumberType | null;
}

/**
 * Reads an international number (`+…`): `null` when it is not one at all (no `+`, an unassigned
 * country code, a length no number of its country has). Unlike {@link describePhone} it keeps a
 * number in a range the metadata does not have, as `valid: false`: metadata lags the plans.
 */
export function readPhone(text: string): PhoneNumberReading | null {
  if (typeof text !== "string" || !text.startsWith("+")) return null;
  const number = parsePhoneNumberFromString(text);
  if (!number?.isPossible()) return null;
  if (!number.isValid()) {
    return { e164: number.number, country: number.country ?? null, valid: false, type: null };
  }
  return { ...info(number), valid: true };
}

/** Whether `e164` is a valid E.164 number (see {@link describePhone}). */
export function isValidPhone(e164: string): boolean {
  return describePhone(e164) !== null;
}
