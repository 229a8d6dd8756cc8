/**
 * Inbound reply → `opt_out | opt_in | help | other`, after 47 CFR § 64.1200(a)(10) (FCC 24-24, in
 * force 2025-04-11): the listed words revoke per se, and other words revoke "if a reasonable
 * person would understand those words to have conveyed a request to revoke consent". See
 * docs/compliance.md, "Revocation by any reasonable means".
 *
 * The rule, in order (the first that matches wins):
 * 1. **exact**: the reply, normalised (case, accents, punctuation, spacing, repetition and
 *    letter-by-letter spelling ignored), is one keyword: Twilio's and AWS's opt-out keywords
 *    (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE; REMOVE, TD, ARRET), the
 *    Spanish and French stop words (PARAR, PARA, DETENER, CANCELAR, BAJA, ALTO, FIN, NO MÁS,
 *    BASTA; ARRÊT, ARRÊTER, ARRÊTEZ, STOPPER, DÉSABONNER, DÉSINSCRIRE…) → opt_out; START, YES,
 *    UNSTOP → opt_in; HELP, INFO, and AIDE/AYUDA → help.
 * 2. **fuzzy**: the reply is one word that is an evident misspelling of an opt-out keyword
 *    (`isMisspelling`: "STPO", "sotp", "unsubscibe", "cancle") → opt_out.
 * 3. **contains**: a revocation word appears as a whole word anywhere (the FCC's stop, quit, end,
 *    revoke, opt out, cancel, unsubscribe, and unambiguous Spanish/French verbs such as cancelar,
 *    detener, arrêtez, désabonner), or a phrase a reasonable person reads as "stop texting me"
 *    ("take me off your list", "I no longer want these", "no more texts", "no me manden más
 *    mensajes", "ne m'envoyez plus") → opt_out. When in doubt an opt-out is honoured ("don't
 *    stop", "stop by tomorrow"): a wrong opt-out costs one START, a missed one is a violation
 *    per message. The one exception is the noun phrase "end of …" ("see you at the end of the
 *    week"), which has no stop meaning.
 * 4. Everything else → other. Opt-in and help are only ever exact keywords: re-subscribing
 *    someone must be unambiguous.
 *
 * Everything here is a few small sets and regular expressions built at import: no dictionary.
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

/** AWS End User Messaging's required opt-out keywords (US and Canada). */
export const AWS_OPT_OUT_KEYWORDS = [
  "ARRET",
  "CANCEL",
  "END",
  "OPT-OUT",
  "OPTOUT",
  "QUIT",
  "REMOVE",
  "STOP",
  "TD",
  "UNSUBSCRIBE",
] as const;

/** Spanish stop words, matched when they are the whole reply (accents optional). */
export const SPANISH_OPT_OUT_KEYWORDS = [
  "PARAR",
  "PARA",
  "PARE",
  "PAREN",
  "DETENER",
  "DETENTE",
  "CANCELAR",
  "BAJA",
  "DAR DE BAJA",
  "ALTO",
  "FIN",
  "NO MÁS",
  "BASTA",
  "DESUSCRIBIR",
  "DESUSCRIBIRME",
  "ELIMINAR",
  "SALIR",
] as const;

/** French stop words, matched when they are the whole reply (accents optional). */
export const FRENCH_OPT_OUT_KEYWORDS = [
  "ARRÊT",
  "ARRÊTE",
  "ARRÊTER",
  "ARRÊTEZ",
  "ARRETT",
  "STOPPER",
  "FIN",
  "DÉSABONNER",
  "DÉSABONNEMENT",
  "DÉSINSCRIRE",
  "DÉSINSCRIPTION",
  "ANNULER",
  "RETIRER",
] as const;

/** Help keywords in other languages: AIDE (AWS's Canadian French HELP), AYUDA (Spanish). */
export const OTHER_HELP_KEYWORDS = ["AIDE", "AYUDA"] as const;

/** How a reply was classified. */
export interface KeywordMatch {
  kind: KeywordClass;
  /** The keyword or phrase that decided, normalised; `null` for `other`. */
  matched: string | null;
  /**
   * `exact`: the whole reply is a keyword; `fuzzy`: the whole reply is one misspelt opt-out
   * keyword (`matched` is the keyword); `contains`: a revocation word or phrase inside it.
   */
  via: "exact" | "fuzzy" | "contains" | null;
}

// What `normalizeReply` makes of a listed keyword, without its Unicode-property expressions at
// import (their first use costs milliseconds of cold start): "ARRÊT" → "arret", "OPT-OUT" →
// "opt out". A test checks both agree on every list (a new accented letter goes in ACCENTS).
const ACCENTS: Readonly<Record<string, string>> = { "Á": "A", "É": "E", "Ê": "E" };
const fold = (words: readonly string[]) =>
  words.map((w) => w.replace(/[ÁÉÊ]/g, (c) => ACCENTS[c]).toLowerCase().replace(/-/g, " "));

const EXACT_OPT_OUT = new Set([
  ...fold(OPT_OUT_KEYWORDS),
  ...fold(AWS_OPT_OUT_KEYWORDS),
  ...fold(SPANISH_OPT_OUT_KEYWORDS),
  ...fold(FRENCH_OPT_OUT_KEYWORDS),
  "opt out",
  "stop all",
  "unsub",
  "stopp",
  "stahp",
  "unsubcribe",
  "unsuscribe",
  "enough",
  "enough already",
  "no more",
  "no thanks",
  "no thank you",
  "spam",
]);
const EXACT_OPT_IN = new Set(fold(OPT_IN_KEYWORDS));
const EXACT_HELP = new Set([...fold(HELP_KEYWORDS), ...fold(OTHER_HELP_KEYWORDS)]);

// Whole words that revoke anywhere in a reply: the FCC's list (plus Twilio's STOPALL/OPTOUT
// spellings) and Spanish/French verbs that have no everyday meaning other than stop/cancel.
// Short or everyday Spanish/French words (para, alto, baja, fin, arrêt "bus stop") are exact only.
const REVOCATION_WORDS = new Set([
  "stop",
  "stopall",
  "quit",
  "end",
  "revoke",
  "optout",
  "cancel",
  "unsubscribe",
  "cancelar",
  "detener",
  "desuscribir",
  "desuscribirme",
  "desuscribanme",
  "arreter",
  "arretez",
  "arrete",
  "desabonner",
  "desabonnez",
  "desinscrire",
  "desinscrivez",
]);

// Phrases that revoke consent without a listed word; matched on word boundaries of the
// normalised reply ("don't" is "don t").
const REVOCATION_PHRASES = [
  "opt out",
  "opt me out",
  "unsub",
  "remove me",
  "remove us",
  "remove my number",
  "remove this number",
  "take me off",
  "take us off",
  "take my number off",
  "take this number off",
  "off your list",
  "off your mailing list",
  "off your texting list",
  "delete me",
  "delete my number",
  "delete this number",
  "leave me alone",
  "leave us alone",
  "lose my number",
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
  "this is spam",
  "keep texting me",
  "keep messaging me",
  // Spanish.
  "dar de baja",
  "darme de baja",
  "dame de baja",
  "denme de baja",
  "de baja por favor",
  "no mas por favor",
  "borrame",
  "borrenme",
  "sacame de",
  "saquenme de",
  "quitenme de",
  "eliminen mi numero",
  "borren mi numero",
  "numero equivocado",
  "no me interesa",
  "dejame en paz",
  "dejenme en paz",
  // French.
  "ne m envoyez plus",
  "ne m envoie plus",
  "ne m ecrivez plus",
  "ne me contactez plus",
  "ne me texte plus",
  "ne me textez plus",
  "desinscrivez moi",
  "retirez moi",
  "supprimez mon numero",
  "laissez moi tranquille",
  "mauvais numero",
  "pas interesse",
  "pas interessee",
];

// Message nouns in English, Spanish and French, used by the patterns below.
const MESSAGES = String
  .raw`(?:texts?|txts?|text messages?|messages?|msgs?|sms|smss|spam|promos?|promotions?|offers|ads|deals|marketing|notifications?|alerts?|reminders?|updates|mensajes?|textos?|msjs?|mensajitos|publicidad|promociones|courriels|textos)`;
const NEG = String.raw`(?:do not|dont|don t|never|no longer)`;

// Sentences: "please don't message me again", "I no longer want these", "no more texts",
// "don't send me these", "no me manden más mensajes", "je ne veux plus recevoir de messages".
// Each pattern runs only when one of its trigger strings is in the reply, and is compiled on
// first use: ordinary conversation ("what time do you open?") compiles no expression at all,
// which keeps the first request of a cold instance as fast as before.
const PATTERNS: readonly (readonly [triggers: readonly string[], source: string])[] = [
  [
    ["not ", "dont", "don t", "never", "no longer"],
    String.raw`\b${NEG} (?:ever )?(?:text|txt|message|msg|sms|contact|spam)(?:ing)? (?:me|us)\b`,
  ],
  [["bother"], String.raw`\b${NEG} (?:ever )?bother(?:ing)? (?:me|us)\b`],
  [
    ["send"],
    String
      .raw`\b(?:${NEG}|stop|quit) send(?:ing)? (?:me |us )?(?:any ?more |more |these |those |this |your |any )*(?:${MESSAGES}|any ?more|again|these|those)\b`,
  ],
  [["no more"], String.raw`\bno more (?:\w+ )?${MESSAGES}\b`],
  [
    ["not ", "dont", "don t", "never", "no longer"],
    String
      .raw`\b(?:no longer|dont|don t|do not|never) (?:want|wish|need|like)(?: to (?:receive|get|be sent))?(?: any ?more| any| these| those| this| them| your| the| such| more)* ${MESSAGES}\b`,
  ],
  [
    ["no longer"],
    String.raw`\bno longer (?:want|wish|need) (?:these|those|this|them|it|your|any)\b`,
  ],
  [
    ["dont", "don t", "do not"],
    String
      .raw`\b(?:dont|don t|do not) (?:want|need) (?:these|those|this|them|it|your \w+) any ?more\b`,
  ],
  [["no longer"], String.raw`\bno longer (?:wish to be contacted|interested|subscribed)\b`],
  // Spanish.
  [["no mas"], String.raw`\bno mas ${MESSAGES}\b`],
  [
    ["dej"],
    String
      .raw`\b(?:deja|dejen|dejar|deje) de (?:enviar|mandar|escribir|textear|molestar)(?:me|nos)?\b`,
  ],
  [
    ["no me", "no nos"],
    String
      .raw`\bno (?:me|nos) (?:envien|manden|escriban|contacten|envies|mandes|escribas|contactes|molesten|molestes)\b`,
  ],
  [
    ["no quiero"],
    String.raw`\b(?:ya )?no quiero (?:recibir |mas |sus |tus |estos |esos |los )*${MESSAGES}\b`,
  ],
  // French.
  [
    ["je ne"],
    String
      .raw`\bje ne (?:veux|souhaite) plus (?:recevoir|etre contacte|etre contactee|de ${MESSAGES}|vos ${MESSAGES}|ces ${MESSAGES})\b`,
  ],
  [["plus de"], String.raw`\bplus de (?:${MESSAGES})(?: svp| s il vous plait| merci)?$`],
];
const compiled: RegExp[] = [];

function matchPattern(normalized: string): string | null {
  for (let i = 0; i < PATTERNS.length; i++) {
    const [triggers, source] = PATTERNS[i];
    if (!triggers.some((t) => normalized.includes(t))) continue;
    const found = (compiled[i] ??= new RegExp(source)).exec(normalized);
    if (found) return found[0];
  }
  return null;
}

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

/**
 * Opt-out keywords a misspelling may aim at, short ones: only the typing slips of `isShortSlip`.
 * Words of three letters or fewer (end, fin, td), short Spanish/French words (para, alto, baja,
 * arret) and everyday words (remove) are never guessed at: one edit away from them lie too many
 * ordinary words.
 */
export const FUZZY_SHORT: readonly string[] = ["stop", "quit"];
/** Long opt-out keywords a misspelling may aim at: any `fuzzyBudget` edits. */
export const FUZZY_LONG: readonly string[] = [
  "stopall",
  "unsubscribe",
  "cancel",
  "revoke",
  "optout",
  "cancelar",
  "detener",
  "desuscribir",
  "desuscribirme",
  "desabonner",
  "desinscrire",
  "arreter",
];
/** Real words within the budget of a long keyword, which a reader takes as themselves. */
export const FUZZY_EXCEPTIONS: ReadonlySet<string> = new Set(["cancer", "arrester"]);

const KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"];

/** Whether two letters are neighbours on a QWERTY keyboard (a fat-finger slip). */
function adjacentKeys(a: string, b: string): boolean {
  for (let r = 0; r < KEYBOARD_ROWS.length; r++) {
    const c = KEYBOARD_ROWS[r].indexOf(a);
    if (c < 0) continue;
    const near = [
      KEYBOARD_ROWS[r][c - 1],
      KEYBOARD_ROWS[r][c + 1],
      KEYBOARD_ROWS[r - 1]?.[c],
      KEYBOARD_ROWS[r - 1]?.[c + 1],
      KEYBOARD_ROWS[r + 1]?.[c - 1],
      KEYBOARD_ROWS[r + 1]?.[c],
    ];
    return near.includes(b);
  }
  return false;
}

/**
 * A typing slip on a short keyword: two neighbouring letters swapped ("stpo", "sotp", "tsop"),
 * a letter after the first dropped ("stp"), a letter doubled or a neighbouring key hit as well
 * ("sttop", "stoip"), or a letter after the first replaced by its keyboard neighbour ("stip").
 */
function isShortSlip(word: string, keyword: string): boolean {
  if (word.length === keyword.length) {
    const diff: number[] = [];
    for (let i = 0; i < word.length; i++) if (word[i] !== keyword[i]) diff.push(i);
    if (diff.length === 1) return diff[0] > 0 && adjacentKeys(keyword[diff[0]], word[diff[0]]);
    return diff.length === 2 && diff[1] === diff[0] + 1 &&
      word[diff[0]] === keyword[diff[1]] && word[diff[1]] === keyword[diff[0]];
  }
  if (word.length === keyword.length - 1) {
    for (let i = 1; i < keyword.length; i++) {
      if (keyword.slice(0, i) + keyword.slice(i + 1) === word) return true;
    }
    return false;
  }
  if (word.length === keyword.length + 1) {
    for (let i = 1; i < word.length; i++) {
      if (word.slice(0, i) + word.slice(i + 1) !== keyword) continue;
      const extra = word[i];
      const before = word[i - 1];
      const after = word[i + 1];
      if (
        extra === before || extra === after || adjacentKeys(before, extra) ||
        (after !== undefined && adjacentKeys(after, extra))
      ) return true;
    }
  }
  return false;
}

/** Optimal string alignment distance (Levenshtein plus adjacent swaps), capped at `max + 1`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0].push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2][j - 2] + 1);
      }
      rows[i].push(d);
    }
  }
  return Math.min(rows[a.length][b.length], max + 1);
}

/** Edits a misspelling of a long keyword may have: 1 up to eight letters, 2 from nine. */
export function fuzzyBudget(keyword: string): number {
  return keyword.length >= 9 ? 2 : 1;
}

/**
 * The opt-out keyword `word` (one normalised word) evidently misspells, or `null`. Short
 * keywords (stop, quit) take one typing slip (`isShortSlip`); long ones any `fuzzyBudget` edits
 * that keep the first letter (or swap the first two). Exact keywords of any class are not
 * misspellings.
 */
export function isMisspelling(word: string): string | null {
  if (!/^[a-z]+$/.test(word) || word.length < 3) return null;
  if (EXACT_OPT_OUT.has(word) || EXACT_OPT_IN.has(word) || EXACT_HELP.has(word)) return null;
  if (FUZZY_EXCEPTIONS.has(word)) return null;
  for (const keyword of FUZZY_SHORT) if (isShortSlip(word, keyword)) return keyword;
  for (const keyword of FUZZY_LONG) {
    const sameStart = word[0] === keyword[0] ||
      (word[0] === keyword[1] && word[1] === keyword[0]);
    const budget = fuzzyBudget(keyword);
    if (sameStart && editDistance(word, keyword, budget) <= budget) return keyword;
  }
  return null;
}

/** Words that may surround a misspelt keyword without making it a sentence. */
const POLITENESS = new Set(["please", "pls", "plz", "now", "thanks", "thank", "you", "thx", "ok"]);

function containsPhrase(normalized: string, phrase: string): boolean {
  return ` ${normalized} `.includes(` ${phrase} `);
}

/**
 * Classifies an inbound reply.
 *
 * @example
 * ```ts
 * classifyReply("Stop texting me!").kind; // "opt_out"
 * classifyReply("stpo").kind;             // "opt_out" (fuzzy)
 * classifyReply(" yes ").kind;            // "opt_in"
 * classifyReply("What time do you open?").kind; // "other"
 * ```
 */
export function classifyReply(text: string): KeywordMatch {
  const normalized = typeof text === "string" ? normalizeReply(text) : "";
  if (normalized === "") return { kind: "other", matched: null, via: null };

  // A keyword repeated or shouted ("STOP STOP", "stop!!!") still counts as exact.
  const words = normalized.split(" ");
  const unique = [...new Set(words)].join(" ");
  for (const candidate of [normalized, unique]) {
    if (EXACT_OPT_OUT.has(candidate)) return { kind: "opt_out", matched: candidate, via: "exact" };
    if (EXACT_OPT_IN.has(candidate)) return { kind: "opt_in", matched: candidate, via: "exact" };
    if (EXACT_HELP.has(candidate)) return { kind: "help", matched: candidate, via: "exact" };
  }
  // A misspelt keyword sent alone, or with only politeness around it ("pls stpo", "stpo now").
  const core = [...new Set(words.filter((w) => !POLITENESS.has(w)))];
  if (core.length === 1) {
    const keyword = isMisspelling(core[0]);
    if (keyword) return { kind: "opt_out", matched: keyword, via: "fuzzy" };
  }

  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    // "the end of the week" is a noun phrase, not "end these messages".
    if (word === "end" && words[i + 1] === "of") continue;
    if (REVOCATION_WORDS.has(word)) return { kind: "opt_out", matched: word, via: "contains" };
  }
  for (const phrase of REVOCATION_PHRASES) {
    if (containsPhrase(normalized, phrase)) {
      return { kind: "opt_out", matched: phrase, via: "contains" };
    }
  }
  const found = matchPattern(normalized);
  if (found) return { kind: "opt_out", matched: found, via: "contains" };
  return { kind: "other", matched: null, via: null };
}

/** Shorthand for `classifyReply(text).kind`. */
export function classifyKeyword(text: string): KeywordClass {
  return classifyReply(text).kind;
}
