/**
 * Phone numbers: normalisation to E.164 and where a North American number is (from its area
 * code, see `area-codes.ts`).
 *
 * @module
 */

import { type AreaCodeInfo, lookupAreaCode } from "./area-codes.ts";

export type { AreaCodeInfo } from "./area-codes.ts";

/** Countries whose national numbers {@link normalizePhone} understands without a `+` prefix. */
export const SUPPORTED_COUNTRIES = {
  US: { callingCode: "1", trunkPrefix: "" },
  CA: { callingCode: "1", trunkPrefix: "" },
  PR: { callingCode: "1", trunkPrefix: "" },
  GB: { callingCode: "44", trunkPrefix: "0" },
  IE: { callingCode: "353", trunkPrefix: "0" },
  AU: { callingCode: "61", trunkPrefix: "0" },
  NZ: { callingCode: "64", trunkPrefix: "0" },
  DE: { callingCode: "49", trunkPrefix: "0" },
  FR: { callingCode: "33", trunkPrefix: "0" },
  ES: { callingCode: "34", trunkPrefix: "" },
  // Italian numbers keep their leading zero after the country code.
  IT: { callingCode: "39", trunkPrefix: "" },
  NL: { callingCode: "31", trunkPrefix: "0" },
  BE: { callingCode: "32", trunkPrefix: "0" },
  MX: { callingCode: "52", trunkPrefix: "" },
  BR: { callingCode: "55", trunkPrefix: "0" },
  IN: { callingCode: "91", trunkPrefix: "0" },
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
  | "invalid_nanp_number";

/** Result of {@link normalizePhone}. */
export type NormalizePhoneResult =
  | { ok: true; e164: string }
  | { ok: false; reason: PhoneErrorReason; message: string };

// 8 to 15 digits: the shortest numbers in service have 8 with their country code (and the
// database's check agrees).
const E164 = /^\+[1-9]\d{7,14}$/;

/** Whether a string is already an E.164 number (`+`, then 8 to 15 digits, no leading 0). */
export function isE164(value: string): boolean {
  return E164.test(value);
}

function fail(reason: PhoneErrorReason, message: string): NormalizePhoneResult {
  return { ok: false, reason, message };
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

/**
 * Normalises a phone number as people type it (`(415) 555-2671`, `415.555.2671`,
 * `+44 20 7946 0958`, `011 44 20…`, `00 44 20…`) to E.164.
 *
 * Numbers with a `+`, `00` or `011` prefix are international; anything else is read in the
 * default country. Letters, extensions and stray symbols are rejected rather than guessed.
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

  let e164Digits: string;
  if (international) {
    e164Digits = digits;
  } else {
    const { callingCode, trunkPrefix } = SUPPORTED_COUNTRIES[country];
    if (callingCode === "1") {
      e164Digits = digits.length === 11 && digits.startsWith("1") ? digits : "1" + digits;
    } else {
      const national = trunkPrefix && digits.startsWith(trunkPrefix)
        ? digits.slice(trunkPrefix.length)
        : digits;
      e164Digits = callingCode + national;
    }
  }

  if (e164Digits.startsWith("0")) return fail("invalid_country_code", "country code cannot be 0");
  if (e164Digits.length < 8) return fail("too_short", "phone number is too short");
  if (e164Digits.length > 15) return fail("too_long", "phone number is longer than 15 digits");
  if (e164Digits.startsWith("1")) {
    const problem = nanpProblem(e164Digits.slice(1));
    if (problem) return fail("invalid_nanp_number", problem);
  }
  return { ok: true, e164: "+" + e164Digits };
}

/** The area code of a North American (+1) E.164 number, else `null`. */
export function areaCodeOf(e164: string): string | null {
  return /^\+1[2-9]\d{2}[2-9]\d{6}$/.test(e164) ? e164.slice(2, 5) : null;
}

/** Location facts (country, state/province, time zones) of a +1 number, else `null`. */
export function locatePhone(e164: string): AreaCodeInfo | null {
  const areaCode = areaCodeOf(e164);
  return areaCode ? lookupAreaCode(areaCode) : null;
}

export { listAreaCodes, lookupAreaCode } from "./area-codes.ts";
