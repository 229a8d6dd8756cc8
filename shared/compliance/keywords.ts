/**
 * Inbound reply → `opt_out | opt_in | help | other`.
 *
 * The rule, in order (the first that matches wins):
 * 1. The reply, normalised (case, accents, punctuation, spacing and letter-by-letter spelling
 *    ignored), is exactly one of Twilio's default keywords: STOP, STOPALL, UNSUBSCRIBE, CANCEL,
 *    END, QUIT, OPTOUT, REVOKE → opt_out; START, YES, UNSTOP → opt_in; HELP, INFO → help.
 * 2. Any revocation word the FCC lists — stop, quit, end, revoke, opt out, cancel, unsubscribe —
 *    appears as a word anywhere in the reply → opt_out (47 CFR § 64.1200(a)(10), in force
 *    2025-04-11: revocation "by any reasonable means"). This includes "don't stop" and "stop by
 *    tomorrow": when in doubt, an opt-out is honoured, because a wrong opt-out costs one START
 *    while a missed one is a violation per message.
 * 3. A phrase a reasonable person would read as "stop texting me" ("leave me alone", "remove me",
 *    "no more texts", "wrong number", "don't text me"…) → opt_out.
 * 4. Everything else → other. Opt-in and help are only ever exact keywords: re-subscribing
 *    someone must be unambiguous.
 *
 * @module
 */

/** What an inbound reply means, see `keywords.ts`. */
export type KeywordClass = "opt_out" | "opt_in" | "help" | "other";

/** Twilio's default opt-out keywords. */
export const OPT_OUT_KEYWORDS = [
  "STOP",
  "STOPALL",
  "UNSUBSCRIBE",
  "CANCEL",
  "END",
  "QUIT",
  "OPTOUT",
  "REVOKE",
] as const;
/** Twilio's default opt-in keywords. */
export const OPT_IN_KEYWORDS = ["START", "YES", "UNSTOP"] as const;
/** Twilio's default help keywords. */
export const HELP_KEYWORDS = ["HELP", "INFO"] as const;

/** How a reply was classified. */
export interface KeywordMatch {
  kind: KeywordClass;
  /** The keyword or phrase that decided, normalised; `null` for `other`. */
  matched: string | null;
  /** `exact`: the whole reply is a keyword; `contains`: a revocation word or phrase inside it. */
  via: "exact" | "contains" | null;
}

// Exact-only extras: common spellings and the Spanish words Twilio-served numbers often receive.
const EXACT_OPT_OUT = new Set([
  ...OPT_OUT_KEYWORDS.map((k) => k.toLowerCase()),
  "opt out",
  "stop all",
  "unsub",
  "stopp",
  "stahp",
  "unsubcribe",
  "unsuscribe",
  "alto",
  "parar",
  "detener",
  "cancelar",
  "baja",
]);
const EXACT_OPT_IN = new Set(OPT_IN_KEYWORDS.map((k) => k.toLowerCase()));
const EXACT_HELP = new Set(HELP_KEYWORDS.map((k) => k.toLowerCase()));

// The FCC's listed words (plus Twilio's STOPALL/OPTOUT spellings), matched as whole words.
const REVOCATION_WORDS = new Set([
  "stop",
  "stopall",
  "quit",
  "end",
  "revoke",
  "optout",
  "cancel",
  "unsubscribe",
]);

// Phrases that revoke consent without a listed word; matched on word boundaries.
const REVOCATION_PHRASES = [
  "opt out",
  "opt me out",
  "unsub",
  "remove me",
  "remove my number",
  "take me off",
  "take my number off",
  "delete my number",
  "leave me alone",
  "no more texts",
  "no more text",
  "no more messages",
  "no more msgs",
  "do not text",
  "dont text",
  "don t text",
  "do not message",
  "dont message",
  "don t message",
  "do not contact",
  "dont contact",
  "don t contact",
  "stop texting",
  "stop messaging",
  "not interested",
  "wrong number",
  "wrong person",
  "lose my number",
];

/**
 * Normalises a reply for matching: Unicode compatibility forms and accents folded, lower case,
 * every run of non-letters/digits turned into one space, and "S T O P" / "S.T.O.P" joined.
 */
export function normalizeReply(text: string): string {
  const folded = text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    // "don't" → "don t" keeps the phrase list simple; other punctuation separates words.
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
  const words = folded.split(" ").filter(Boolean);
  if (words.length > 1 && words.every((w) => w.length === 1)) return words.join("");
  return words.join(" ");
}

function containsPhrase(normalized: string, phrase: string): boolean {
  return ` ${normalized} `.includes(` ${phrase} `);
}

/**
 * Classifies an inbound reply.
 *
 * @example
 * ```ts
 * classifyReply("Stop texting me!").kind; // "opt_out"
 * classifyReply(" yes ").kind;            // "opt_in"
 * classifyReply("What time do you open?").kind; // "other"
 * ```
 */
export function classifyReply(text: string): KeywordMatch {
  const normalized = typeof text === "string" ? normalizeReply(text) : "";
  if (normalized === "") return { kind: "other", matched: null, via: null };

  // A keyword repeated or shouted ("STOP STOP", "stop!!!") still counts as exact.
  const unique = [...new Set(normalized.split(" "))].join(" ");
  for (const candidate of [normalized, unique]) {
    if (EXACT_OPT_OUT.has(candidate)) return { kind: "opt_out", matched: candidate, via: "exact" };
    if (EXACT_OPT_IN.has(candidate)) return { kind: "opt_in", matched: candidate, via: "exact" };
    if (EXACT_HELP.has(candidate)) return { kind: "help", matched: candidate, via: "exact" };
  }

  for (const word of normalized.split(" ")) {
    if (REVOCATION_WORDS.has(word)) return { kind: "opt_out", matched: word, via: "contains" };
  }
  for (const phrase of REVOCATION_PHRASES) {
    if (containsPhrase(normalized, phrase)) {
      return { kind: "opt_out", matched: phrase, via: "contains" };
    }
  }
  return { kind: "other", matched: null, via: null };
}

/** Shorthand for `classifyReply(text).kind`. */
export function classifyKeyword(text: string): KeywordClass {
  return classifyReply(text).kind;
}
