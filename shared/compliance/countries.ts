/**
 * Countries outside the +1 plan: which country a number's calling code gives, and the IANA zones
 * its quiet hours are computed in. A small table, not a library: countries-and-timezones would
 * give every country, but its data is parsed on every cold start of send-sms and
 * process-retries, and by default a business may text only the US and its territories (all +1,
 * placed by `area-codes.ts`). The table covers the countries `normalizePhone` accepts as a
 * default country, plus Japan; a permitted country outside it needs the recipient's zone on the
 * customer record, or its messages wait (never a US fallback).
 *
 * Several zones: the window is the intersection of the federal-style 8:00–21:00 in each (e.g.
 * Australia from Perth to Sydney). Zones with no mobile population of note (Eucla, Chatham,
 * Lord Howe…) are left out; a recipient there can have the zone recorded.
 *
 * @module
 */

import { listAreaCodes, locatePhone } from "./area-codes.ts";

/** IANA zones per ISO 3166-1 country, for the countries outside +1 this module knows. */
export const COUNTRY_TIME_ZONES: Readonly<Record<string, readonly string[]>> = {
  GB: ["Europe/London"],
  // The Crown Dependencies share +44 (libphonenumber names them) and London's clock.
  GG: ["Europe/Guernsey"],
  JE: ["Europe/Jersey"],
  IM: ["Europe/Isle_of_Man"],
  IE: ["Europe/Dublin"],
  FR: ["Europe/Paris"],
  DE: ["Europe/Berlin"],
  ES: ["Europe/Madrid", "Atlantic/Canary"],
  IT: ["Europe/Rome"],
  NL: ["Europe/Amsterdam"],
  BE: ["Europe/Brussels"],
  AU: [
    "Australia/Perth",
    "Australia/Darwin",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Sydney",
  ],
  NZ: ["Pacific/Auckland"],
  JP: ["Asia/Tokyo"],
  IN: ["Asia/Kolkata"],
  MX: [
    "America/Tijuana",
    "America/Hermosillo",
    "America/Mazatlan",
    "America/Mexico_City",
    "America/Cancun",
  ],
  BR: ["America/Rio_Branco", "America/Manaus", "America/Sao_Paulo", "America/Noronha"],
};

/** Calling code → country, for the countries of {@link COUNTRY_TIME_ZONES}. */
const CALLING_CODES: Readonly<Record<string, string>> = {
  "44": "GB",
  "353": "IE",
  "33": "FR",
  "49": "DE",
  "34": "ES",
  "39": "IT",
  "31": "NL",
  "32": "BE",
  "61": "AU",
  "64": "NZ",
  "81": "JP",
  "91": "IN",
  "52": "MX",
  "55": "BR",
};

/**
 * The country of an E.164 number outside +1 from its calling code, for the countries this module
 * knows; `null` otherwise. (+44 also serves Guernsey, Jersey and the Isle of Man, which keep
 * London's clock.) Where libphonenumber is loaded, its country (`describePhone`) is preferred.
 */
export function countryOfCallingCode(phone: string): string | null {
  if (!phone.startsWith("+") || phone.startsWith("+1")) return null;
  for (const length of [1, 2, 3]) {
    const country = CALLING_CODES[phone.slice(1, 1 + length)];
    if (country) return country;
  }
  return null;
}

/**
 * The countries a business may text unless it changes `businesses.sms_allowed_countries`: the
 * US and its territories (libphonenumber gives the territories their own codes), as Twilio's
 * geo permissions allow by default.
 */
export const DEFAULT_ALLOWED_COUNTRIES: readonly string[] = ["US", "PR", "VI", "GU", "AS", "MP"];

const US_TERRITORIES = new Set(["PR", "VI", "GU", "AS", "MP"]);

/**
 * The country of an E.164 number without libphonenumber: +1 by its area code (the territories
 * by their own code, as libphonenumber does; a non-geographic +1 code such as toll-free is "US",
 * also as libphonenumber does), other numbers by {@link countryOfCallingCode}. `null` when it
 * cannot tell.
 */
export function countryOfNumber(phone: string): string | null {
  if (!phone.startsWith("+1")) return countryOfCallingCode(phone);
  const located = locatePhone(phone);
  if (!located) return "US";
  return located.regions.find((r) => US_TERRITORIES.has(r)) ?? located.country;
}

let placeable: Set<string> | null = null;

/** Every country {@link countryOfNumber} can name. */
function placeableCountries(): Set<string> {
  placeable ??= new Set([
    "US",
    ...US_TERRITORIES,
    ...listAreaCodes().map((a) => a.country),
    ...Object.keys(COUNTRY_TIME_ZONES),
  ]);
  return placeable;
}

/**
 * Whether a business whose permitted countries are `allowed` may text `phone`.
 *
 * `country` is libphonenumber's answer where the caller has it (send-sms: `describePhone`;
 * `null` for a non-geographic number such as +800, which no country permission covers). Without
 * it (process-retries keeps libphonenumber out of its graph) the country comes from
 * {@link countryOfNumber}; a number it cannot place is refused only when every permitted country
 * is one it could have placed (the default list, for one): then the number is in none of them.
 * Otherwise it passes, as send-sms (which asked libphonenumber) accepted it.
 */
export function countryPermitted(
  phone: string,
  allowed: readonly string[],
  country?: string | null,
): boolean {
  const permitted = new Set(allowed.map((c) => c.toUpperCase()));
  if (country !== undefined) return country !== null && permitted.has(country.toUpperCase());
  const placed = countryOfNumber(phone);
  if (placed !== null) return permitted.has(placed);
  const known = placeableCountries();
  return ![...permitted].every((c) => known.has(c));
}
