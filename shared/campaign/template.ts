/**
 * Campaign templates: which placeholders a template uses, the values a customer gives them, and
 * the message a customer receives (with the CTIA disclosure when asked for).
 *
 * These rules are mirrored by the SQL function `sms.render_campaign_message`, and a property test
 * checks that the two agree; so they are kept small and specified here in full. Any change here
 * must be made there too.
 *
 * Whitespace ("ws" below) is ECMAScript's `\s`, which `String.prototype.trim` also removes:
 * U+0009–U+000D, U+0020, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000
 * and U+FEFF. SQL must spell this class out: `[[:space:]]` and `btrim` depend on the locale.
 *
 * 1. Placeholders. Scanning left to right, each leftmost non-overlapping match of
 *    `\{\{([^{}]*)\}\}` is a placeholder; everything else (stray `{`, `}`, `{{`, `}}` included) is
 *    literal text. The placeholder's content parses when it matches
 *    `^ws*([A-Za-z0-9_]+)ws*(?:\|([^|{}]*))?$`: group 1 is the name, group 2 (trimmed of ws) the
 *    fallback, absent when there is no `|`. Known names, case-sensitive: {@link TEMPLATE_VARIABLES}.
 * 2. Values ({@link customerVariables}): `collapse(s)` replaces each run of ws by one U+0020 and
 *    trims ws. full_name = collapse(customer name); its words are its U+0020-separated parts;
 *    first_name = the first word ('' for an empty name); last_name = the last word when there are
 *    at least two, else ''; business_name = collapse(business name).
 * 3. Rendering ({@link renderTemplate}), one pass: each placeholder is replaced by its value;
 *    an empty value ('' exactly) by the fallback, or '' without one. A placeholder whose content
 *    does not parse, or whose name is not known, becomes '' (fallback ignored). Output is never
 *    scanned again: a value or an adjacent literal that forms `{{…}}` stays as text.
 * 4. Disclosure ({@link renderCampaignMessage}): r = trim(render(template, values)). Without
 *    `disclose` the message is r. With it, b = collapse(brand):
 *    - prefix `b + ": "` unless b is '', or a parsed placeholder of the template is named
 *      business_name (whatever its value), or r contains b ignoring ASCII case (A–Z ≡ a–z only);
 *    - suffix `" Reply STOP to opt out."` unless r contains `stop` ignoring ASCII case, with no
 *      ASCII word character (`[A-Za-z0-9_]`) immediately before or after it (JS `/\bstop\b/i`);
 *    - both tests look at r, never at the prefix; the message is trim(prefix + r + suffix).
 *
 * @module
 */

/** The placeholder names a template may use. */
export const TEMPLATE_VARIABLES = [
  "first_name",
  "last_name",
  "full_name",
  "business_name",
] as const;

/** A placeholder name a template may use. */
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** Values for a template's placeholders. */
export type TemplateValues = Readonly<Partial<Record<TemplateVariable, string>>>;

/** What {@link parseTemplate} found. */
export type TemplateParse =
  | { ok: true; variables: TemplateVariable[] }
  | { ok: false; unknown: string[] };

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const CONTENT = /^\s*([A-Za-z0-9_]+)\s*(?:\|([^|{}]*))?$/;
const KNOWN: ReadonlySet<string> = new Set(TEMPLATE_VARIABLES);

interface Placeholder {
  /** The text between the braces. */
  raw: string;
  /** `null` when the content does not parse. */
  name: string | null;
  fallback: string | null;
}

function parsePlaceholder(raw: string): Placeholder {
  const match = CONTENT.exec(raw);
  if (!match) return { raw, name: null, fallback: null };
  return { raw, name: match[1], fallback: match[2] === undefined ? null : match[2].trim() };
}

function isKnown(name: string | null): name is TemplateVariable {
  return name !== null && KNOWN.has(name);
}

function placeholders(template: string): Placeholder[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => parsePlaceholder(m[1]));
}

/**
 * The known names a template uses (each once, in order of first use), or every offending
 * placeholder: its name when the content parses, else the raw content (each once, in order).
 */
export function parseTemplate(text: string): TemplateParse {
  const variables: TemplateVariable[] = [];
  const unknown: string[] = [];
  for (const p of placeholders(text)) {
    if (isKnown(p.name)) {
      if (!variables.includes(p.name)) variables.push(p.name);
    } else {
      const offending = p.name ?? p.raw;
      if (!unknown.includes(offending)) unknown.push(offending);
    }
  }
  return unknown.length ? { ok: false, unknown } : { ok: true, variables };
}

/** Runs of whitespace made one space, ends trimmed. */
export function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** The placeholder values of one customer of one business. */
export function customerVariables(
  customerName: string,
  businessName: string,
): Record<TemplateVariable, string> {
  const full = collapseWhitespace(customerName);
  const words = full === "" ? [] : full.split(" ");
  return {
    first_name: words[0] ?? "",
    last_name: words.length >= 2 ? words[words.length - 1] : "",
    full_name: full,
    business_name: collapseWhitespace(businessName),
  };
}

/** The template with each placeholder replaced (rule 3 of the module's spec). */
export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (_, raw: string) => {
    const p = parsePlaceholder(raw);
    if (!isKnown(p.name)) return "";
    const value = values[p.name] ?? "";
    return value === "" ? (p.fallback ?? "") : value;
  });
}

/** Options of {@link renderCampaignMessage}. */
export interface DisclosureOptions {
  /** Add the sender's name and opt-out instructions where the text lacks them (CTIA). */
  disclose: boolean;
  /** The name the sender is known by (the business's name). */
  brand: string;
}

/** The suffix a disclosed message gets when it has no opt-out instructions of its own. */
export const OPT_OUT_SUFFIX = " Reply STOP to opt out.";

// ASCII only, on both sides: Unicode case mapping differs between ICU, V8 and libc, and SQL must
// give the same answer.
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

// Without the `u` flag `\b` and `i` are ASCII-only (with it, U+017F would count as an `s`).
const STOP_WORD = /\bstop\b/i;

/** The message a customer receives (rules 3 and 4 of the module's spec). */
export function renderCampaignMessage(
  template: string,
  values: TemplateValues,
  options: DisclosureOptions,
): string {
  const rendered = renderTemplate(template, values).trim();
  if (!options.disclose) return rendered;
  const brand = collapseWhitespace(options.brand);
  const namesSender = brand === "" ||
    placeholders(template).some((p) => p.name === "business_name") ||
    asciiLower(rendered).includes(asciiLower(brand));
  const prefix = namesSender ? "" : `${brand}: `;
  const suffix = STOP_WORD.test(rendered) ? "" : OPT_OUT_SUFFIX;
  return (prefix + rendered + suffix).trim();
}
