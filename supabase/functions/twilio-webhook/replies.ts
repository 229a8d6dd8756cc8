/**
 * The texts twilio-webhook answers a reply with: the opt-out and opt-in confirmations and the
 * answer to HELP. Each is one SMS segment (160 GSM-7 characters, or 70 UCS-2 when a business name
 * needs it), names the business (CTIA: program name), and says how to opt out or back in.
 *
 * @module
 */

import { countSegments } from "@shared/text/segments.ts";
import type { KeywordClass } from "@shared/compliance/keywords.ts";

/** A business a reply concerns, as `sms.record_inbound_message` returns it. */
export interface ReplyBusiness {
  name: string;
  /** Phone, email or URL (`businesses.sms_help_contact`). */
  helpContact?: string | null;
}

/** Whether a text goes out as a single segment. */
export function fitsOneSegment(text: string): boolean {
  return countSegments(text) === 1;
}

// Names come from the database: one line, no control characters, bounded.
function tidy(text: string, max: number): string {
  // deno-lint-ignore no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f\s]+/g, " ").trim();
  return [...flat].slice(0, max).join("").trim();
}

function brands(businesses: readonly ReplyBusiness[]): string[] {
  const names = [...new Set(businesses.map((b) => tidy(b.name ?? "", 60)).filter(Boolean))];
  if (names.length === 0) return [];
  const out = [names.join(", ")];
  if (names.length > 1) out.push(names[0]);
  return out;
}

// The first candidate that is one segment: every brand (all names, then the first) with every
// wording (full, then short), then the fallback, which is short GSM-7 and always fits.
function fit(brandList: string[], texts: string[], fallback: string): string {
  for (const brand of brandList) {
    for (const text of texts) {
      const candidate = `${brand}: ${text}`;
      if (fitsOneSegment(candidate)) return candidate;
    }
  }
  for (const text of texts) if (fitsOneSegment(text)) return text;
  return fallback;
}

/** Confirmation of an opt-out (sent once, as the FCC allows, when Twilio did not answer). */
export function optOutConfirmation(businesses: readonly ReplyBusiness[]): string {
  const text = "You are unsubscribed and will get no more texts from this number. " +
    "Reply START to resubscribe.";
  return fit(brands(businesses), [text, "Unsubscribed. Reply START to resubscribe."], text);
}

/** Confirmation of an opt-in. */
export function optInConfirmation(businesses: readonly ReplyBusiness[]): string {
  const text = "You are resubscribed to texts from this number. Msg&data rates may apply. " +
    "Reply HELP for help, STOP to opt out.";
  return fit(brands(businesses), [text, "Resubscribed. Reply STOP to opt out."], text);
}

const helpTexts = (contact: string) => [
  `For help contact ${contact}. Msg&data rates may apply. Reply STOP to opt out.`,
  `Help: ${contact}. Reply STOP to opt out.`,
];

/**
 * The answer to HELP: who is texting, how to reach them, and how to opt out. It always carries
 * the help contact (CTIA): a business cannot send SMS without one (send-sms:
 * `help_contact_missing`), and the column's check keeps it to GSM-7 characters short enough that
 * `Help: <contact>. Reply STOP to opt out.` is one segment. When the reply concerns several
 * businesses, each is named with its contact if that fits, else the first (the one that texted
 * last) with its own. Only a business that has no contact at all (it never sent, or removed it)
 * gets "reply to this message".
 */
export function helpReply(businesses: readonly ReplyBusiness[]): string {
  const fallback = "For help reply to this message. Msg&data rates may apply. " +
    "Reply STOP to opt out.";
  const withContact = businesses
    .map((b) => ({ name: tidy(b.name ?? "", 60), contact: tidy(b.helpContact ?? "", 60) }))
    .filter((b) => b.contact !== "");
  if (withContact.length === 0) {
    return fit(
      brands(businesses),
      [fallback, "Help: reply here. Reply STOP to opt out."],
      fallback,
    );
  }
  const first = withContact[0];
  const firstOnly = `Help: ${first.contact}. Reply STOP to opt out.`;
  const last = fitsOneSegment(firstOnly) ? firstOnly : fallback;
  const several = businesses.length > 1;
  if (several) {
    const list = withContact.map((b) => b.name ? `${b.name}: ${b.contact}` : b.contact).join("; ");
    for (const text of helpTexts(list)) if (fitsOneSegment(text)) return text;
  }
  const brand = several ? (first.name ? [first.name] : []) : brands(businesses);
  return fit(brand, helpTexts(first.contact), last);
}

/**
 * The text to answer an inbound reply with, or `null` for none: nothing for free text (the
 * business reads it in its inbox), and nothing when Twilio's Advanced Opt-Out already answered
 * the keyword (a second confirmation would be one text too many).
 */
export function replyText(
  kind: KeywordClass,
  options: { businesses: readonly ReplyBusiness[]; twilioHandled?: boolean },
): string | null {
  if (options.twilioHandled) return null;
  switch (kind) {
    case "opt_out":
      return optOutConfirmation(options.businesses);
    case "opt_in":
      return optInConfirmation(options.businesses);
    case "help":
      return helpReply(options.businesses);
    default:
      return null;
  }
}
