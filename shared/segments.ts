/**
 * SMS encoding and segment counting, exactly as Twilio's calculator (npm
 * `sms-segments-calculator`) computes them.
 *
 * - GSM-7 when every character is in the GSM 03.38 basic or extension table, else UCS-2.
 * - A segment carries 140 octets. A single segment holds 160 septets (GSM-7) or 70 UTF-16 units
 *   (UCS-2); once a message needs more, every segment loses 6 octets to the concatenation header:
 *   153 septets or 67 units.
 * - Extension characters (`^ { } \ [ ~ ] | €` and form feed) take two septets, and the escape
 *   septet is never separated from its character.
 * - A grapheme (as the reference splits them, see `graphemes.ts`) is never split across segments.
 *
 * @module
 */

import { splitGraphemes } from "./graphemes.ts";
import type { SmsEncoding } from "./types.ts";

export type { SmsEncoding } from "./types.ts";

/** Bits in one segment's user data (140 octets). */
const SEGMENT_BITS = 1120;
/** Bits the concatenation header takes from every segment of a multi-part message. */
const HEADER_BITS = 48;

/** Septets of every GSM-7 character, keyed by UTF-16 code unit (1 basic, 2 extension). */
const GSM_SEPTETS: ReadonlyMap<number, 1 | 2> = (() => {
  const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const extension = "\f^{}\\[~]|€";
  const map = new Map<number, 1 | 2>();
  for (const ch of basic) map.set(ch.charCodeAt(0), 1);
  for (const ch of extension) map.set(ch.charCodeAt(0), 2);
  return map;
})();

/**
 * Twilio's Smart Encoding replacements (the table the reference calculator emulates): typographic
 * quotes, dashes, spaces, fullwidth forms and a few symbols become GSM-7 look-alikes.
 */
const SMART_ENCODING: ReadonlyMap<string, string> = new Map<string, string>([
  ["\u00ab", '"'],
  ["\u00bb", '"'],
  ["\u201c", '"'],
  ["\u201d", '"'],
  ["\u02ba", '"'],
  ["\u02ee", '"'],
  ["\u201f", '"'],
  ["\u201e", '"'],
  ["\u275d", '"'],
  ["\u275e", '"'],
  ["\u301d", '"'],
  ["\u301e", '"'],
  ["\uff02", '"'],
  ["\u2018", "'"],
  ["\u2019", "'"],
  ["\u02bb", "'"],
  ["\u02c8", "'"],
  ["\u02bc", "'"],
  ["\u02bd", "'"],
  ["\u02b9", "'"],
  ["\u201b", "'"],
  ["\uff07", "'"],
  ["\u00b4", "'"],
  ["\u02ca", "'"],
  ["\u0060", "'"],
  ["\u02cb", "'"],
  ["\u275b", "'"],
  ["\u275c", "'"],
  ["\u0313", "'"],
  ["\u0314", "'"],
  ["\ufe10", "'"],
  ["\ufe11", "'"],
  ["\u00f7", "/"],
  ["\u00bc", "1/4"],
  ["\u00bd", "1/2"],
  ["\u00be", "3/4"],
  ["\u29f8", "/"],
  ["\u0337", "/"],
  ["\u0338", "/"],
  ["\u2044", "/"],
  ["\u2215", "/"],
  ["\uff0f", "/"],
  ["\u29f9", "\\"],
  ["\u29f5", "\\"],
  ["\u20e5", "\\"],
  ["\ufe68", "\\"],
  ["\uff3c", "\\"],
  ["\u0332", "_"],
  ["\uff3f", "_"],
  ["\u20d2", "|"],
  ["\u20d3", "|"],
  ["\u2223", "|"],
  ["\uff5c", "|"],
  ["\u23b8", "|"],
  ["\u23b9", "|"],
  ["\u23d0", "|"],
  ["\u239c", "|"],
  ["\u239f", "|"],
  ["\u23bc", "-"],
  ["\u23bd", "-"],
  ["\u2015", "-"],
  ["\ufe63", "-"],
  ["\uff0d", "-"],
  ["\u2010", "-"],
  ["\u2043", "-"],
  ["\ufe6b", "@"],
  ["\uff20", "@"],
  ["\ufe69", "$"],
  ["\uff04", "$"],
  ["\u01c3", "!"],
  ["\ufe15", "!"],
  ["\ufe57", "!"],
  ["\uff01", "!"],
  ["\ufe5f", "#"],
  ["\uff03", "#"],
  ["\ufe6a", "%"],
  ["\uff05", "%"],
  ["\ufe60", "&"],
  ["\uff06", "&"],
  ["\u201a", ","],
  ["\u0326", ","],
  ["\ufe50", ","],
  ["\ufe51", ","],
  ["\uff0c", ","],
  ["\uff64", ","],
  ["\u2768", "("],
  ["\u276a", "("],
  ["\ufe59", "("],
  ["\uff08", "("],
  ["\u27ee", "("],
  ["\u2985", "("],
  ["\u2769", ")"],
  ["\u276b", ")"],
  ["\ufe5a", ")"],
  ["\uff09", ")"],
  ["\u27ef", ")"],
  ["\u2986", ")"],
  ["\u204e", "*"],
  ["\u2217", "*"],
  ["\u229b", "*"],
  ["\u2722", "*"],
  ["\u2723", "*"],
  ["\u2724", "*"],
  ["\u2725", "*"],
  ["\u2731", "*"],
  ["\u2732", "*"],
  ["\u2733", "*"],
  ["\u273a", "*"],
  ["\u273b", "*"],
  ["\u273c", "*"],
  ["\u273d", "*"],
  ["\u2743", "*"],
  ["\u2749", "*"],
  ["\u274a", "*"],
  ["\u274b", "*"],
  ["\u29c6", "*"],
  ["\ufe61", "*"],
  ["\uff0a", "*"],
  ["\u02d6", "+"],
  ["\ufe62", "+"],
  ["\uff0b", "+"],
  ["\u3002", "."],
  ["\ufe52", "."],
  ["\uff0e", "."],
  ["\uff61", "."],
  ["\uff10", "0"],
  ["\uff11", "1"],
  ["\uff12", "2"],
  ["\uff13", "3"],
  ["\uff14", "4"],
  ["\uff15", "5"],
  ["\uff16", "6"],
  ["\uff17", "7"],
  ["\uff18", "8"],
  ["\uff19", "9"],
  ["\u02d0", ":"],
  ["\u02f8", ":"],
  ["\u2982", ":"],
  ["\ua789", ":"],
  ["\ufe13", ":"],
  ["\uff1a", ":"],
  ["\u204f", ";"],
  ["\ufe14", ";"],
  ["\ufe54", ";"],
  ["\uff1b", ";"],
  ["\ufe64", "<"],
  ["\uff1c", "<"],
  ["\u0347", "="],
  ["\ua78a", "="],
  ["\ufe66", "="],
  ["\uff1d", "="],
  ["\ufe65", ">"],
  ["\uff1e", ">"],
  ["\ufe16", "?"],
  ["\ufe56", "?"],
  ["\uff1f", "?"],
  ["\uff21", "A"],
  ["\u1d00", "A"],
  ["\uff22", "B"],
  ["\u0299", "B"],
  ["\uff23", "C"],
  ["\u1d04", "C"],
  ["\uff24", "D"],
  ["\u1d05", "D"],
  ["\uff25", "E"],
  ["\u1d07", "E"],
  ["\uff26", "F"],
  ["\ua730", "F"],
  ["\uff27", "G"],
  ["\u0262", "G"],
  ["\uff28", "H"],
  ["\u029c", "H"],
  ["\uff29", "I"],
  ["\u026a", "I"],
  ["\uff2a", "J"],
  ["\u1d0a", "J"],
  ["\uff2b", "K"],
  ["\u1d0b", "K"],
  ["\uff2c", "L"],
  ["\u029f", "L"],
  ["\uff2d", "M"],
  ["\u1d0d", "M"],
  ["\uff2e", "N"],
  ["\u0274", "N"],
  ["\uff2f", "O"],
  ["\u1d0f", "O"],
  ["\uff30", "P"],
  ["\u1d18", "P"],
  ["\uff31", "Q"],
  ["\uff32", "R"],
  ["\u0280", "R"],
  ["\uff33", "S"],
  ["\ua731", "S"],
  ["\uff34", "T"],
  ["\u1d1b", "T"],
  ["\uff35", "U"],
  ["\u1d1c", "U"],
  ["\uff36", "V"],
  ["\u1d20", "V"],
  ["\uff37", "W"],
  ["\u1d21", "W"],
  ["\uff38", "X"],
  ["\uff39", "Y"],
  ["\u028f", "Y"],
  ["\uff3a", "Z"],
  ["\u1d22", "Z"],
  ["\u02c6", "^"],
  ["\u0302", "^"],
  ["\uff3e", "^"],
  ["\u1dcd", "^"],
  ["\u2774", "{"],
  ["\ufe5b", "{"],
  ["\uff5b", "{"],
  ["\u2775", "}"],
  ["\ufe5c", "}"],
  ["\uff5d", "}"],
  ["\uff3b", "["],
  ["\uff3d", "]"],
  ["\u02dc", "~"],
  ["\u02f7", "~"],
  ["\u0303", "~"],
  ["\u0330", "~"],
  ["\u0334", "~"],
  ["\u223c", "~"],
  ["\uff5e", "~"],
  // The reference maps these spaces to two spaces; kept identical so counts agree.
  ["\u00a0", "  "],
  ["\u2000", "  "],
  ["\u2002", "  "],
  ["\u2003", "  "],
  ["\u2004", "  "],
  ["\u2005", "  "],
  ["\u2006", "  "],
  ["\u2007", "  "],
  ["\u2008", "  "],
  ["\u2009", "  "],
  ["\u200a", "  "],
  ["\u202f", "  "],
  ["\u205f", "  "],
  ["\u3000", "  "],
  ["\u008d", "  "],
  ["\u009f", "  "],
  ["\u0080", "  "],
  ["\u0090", "  "],
  ["\u009b", "  "],
  ["\u0010", ""],
  ["\u0009", "       "],
  ["\u0000", ""],
  ["\u0003", ""],
  ["\u0004", ""],
  ["\u0017", ""],
  ["\u0019", ""],
  ["\u0011", ""],
  ["\u0012", ""],
  ["\u0013", ""],
  ["\u0014", ""],
  ["\u2060", ""],
  ["\u2017", "_"],
  ["\u2014", "-"],
  ["\u2013", "-"],
  ["\u2039", "<"],
  ["\u203a", ">"],
  ["\u203c", "!!"],
  ["\u2028", " "],
  ["\u2029", " "],
  ["\u2026", "..."],
  ["\u2001", " "],
  ["\u200b", ""],
  ["\u200c", ""],
  ["\u3001", ","],
  ["\ufeff", ""],
  ["\u2022", "-"],
]);

/** Options of {@link analyzeSegments} and {@link countSegments}. */
export interface SegmentOptions {
  /** Apply Twilio's Smart Encoding replacements before counting (as a Messaging Service would). */
  smartEncoding?: boolean;
}

/** Everything a sender or a UI needs to know about how a body will be split. */
export interface SegmentAnalysis {
  /** The text that was counted (after Smart Encoding, when requested). */
  text: string;
  encoding: SmsEncoding;
  /** Number of segments (1 for an empty body, as Twilio's calculator reports). */
  segments: number;
  /** Septets (GSM-7) or UTF-16 units (UCS-2) of the message, excluding headers. */
  units: number;
  /** Units one segment holds for this message: 160/153 (GSM-7) or 70/67 (UCS-2). */
  unitsPerSegment: number;
  /** Graphemes (user-perceived characters) in the text. */
  graphemes: number;
  /** Distinct graphemes that are not GSM-7, in order of first appearance. */
  nonGsmCharacters: string[];
  /** The text of each segment, in order. */
  parts: string[];
}

/** Whether a single character (one UTF-16 unit) belongs to the GSM-7 basic or extension table. */
export function isGsmCharacter(char: string): boolean {
  return char.length === 1 && GSM_SEPTETS.has(char.charCodeAt(0));
}

/** Whether a grapheme is GSM-7 (a multi-unit grapheme, such as `e` + accent, never is). */
function isGsmGrapheme(grapheme: string): boolean {
  return grapheme.length === 1 && GSM_SEPTETS.has(grapheme.charCodeAt(0));
}

/**
 * Applies Twilio's Smart Encoding replacements (curly quotes, dashes, ellipsis, special spaces…),
 * code point by code point.
 */
export function applySmartEncoding(text: string): string {
  let out = "";
  for (const ch of text) out += SMART_ENCODING.get(ch) ?? ch;
  return out;
}

/** Graphemes of the text as the reference splits them (it keeps `\r\n` as two characters). */
function graphemesOf(text: string): string[] {
  const out: string[] = [];
  for (const g of splitGraphemes(text)) {
    if (g === "\r\n") out.push("\r", "\n");
    else out.push(g);
  }
  return out;
}

/** The encoding Twilio will use for a body. */
export function detectEncoding(text: string, options: SegmentOptions = {}): SmsEncoding {
  const counted = options.smartEncoding ? applySmartEncoding(text) : text;
  return graphemesOf(counted).every(isGsmGrapheme) ? "GSM-7" : "UCS-2";
}

/**
 * Distinct non-GSM characters of a body, in order of first appearance: what to tell a user whose
 * message turned UCS-2 (and costs 70 instead of 160 characters per segment).
 */
export function nonGsmCharacters(text: string, options: SegmentOptions = {}): string[] {
  const counted = options.smartEncoding ? applySmartEncoding(text) : text;
  return [...new Set(graphemesOf(counted).filter((g) => !isGsmGrapheme(g)))];
}

interface SegmentBuilder {
  bits: number;
  hasHeader: boolean;
  items: { text: string; bits: number }[];
}

/**
 * Encoding, segment count and per-segment split of a body.
 *
 * Mirrors the reference's algorithm step for step: graphemes are appended to the current segment
 * while they fit; the first overflow adds the 6-octet header to the first segment (moving its last
 * graphemes into the second) and opens a new segment with a header.
 */
export function analyzeSegments(text: string, options: SegmentOptions = {}): SegmentAnalysis {
  const counted = options.smartEncoding ? applySmartEncoding(text) : text;
  const graphemes = graphemesOf(counted);
  const encoding: SmsEncoding = graphemes.every(isGsmGrapheme) ? "GSM-7" : "UCS-2";
  const sizeOf = encoding === "GSM-7"
    ? (g: string) => 7 * (GSM_SEPTETS.get(g.charCodeAt(0)) ?? 1)
    : (g: string) => 16 * g.length;

  const segments: SegmentBuilder[] = [{ bits: 0, hasHeader: false, items: [] }];
  let current = segments[0];
  let totalBits = 0;
  for (const grapheme of graphemes) {
    const bits = sizeOf(grapheme);
    totalBits += bits;
    if (SEGMENT_BITS - current.bits < bits) {
      const next: SegmentBuilder = { bits: HEADER_BITS, hasHeader: true, items: [] };
      const previous = current;
      segments.push(next);
      current = next;
      if (!previous.hasHeader) {
        previous.hasHeader = true;
        previous.bits += HEADER_BITS;
        const moved: SegmentBuilder["items"] = [];
        while (previous.bits > SEGMENT_BITS) {
          const item = previous.items.pop()!;
          previous.bits -= item.bits;
          moved.unshift(item);
        }
        for (const item of moved) {
          next.items.push(item);
          next.bits += item.bits;
        }
      }
    }
    current.items.push({ text: grapheme, bits });
    current.bits += bits;
  }

  const unitBits = encoding === "GSM-7" ? 7 : 16;
  const multi = segments.length > 1;
  return {
    text: counted,
    encoding,
    segments: segments.length,
    units: totalBits / unitBits,
    unitsPerSegment: Math.floor((SEGMENT_BITS - (multi ? HEADER_BITS : 0)) / unitBits),
    graphemes: graphemes.length,
    nonGsmCharacters: [...new Set(graphemes.filter((g) => !isGsmGrapheme(g)))],
    parts: segments.map((s) => s.items.map((i) => i.text).join("")),
  };
}

/** Number of segments Twilio will bill for a body. */
export function countSegments(text: string, options: SegmentOptions = {}): number {
  return analyzeSegments(text, options).segments;
}
