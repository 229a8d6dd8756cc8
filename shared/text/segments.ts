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

import { graphemeEnds } from "./graphemes.ts";

/** Message encodings an SMS can use. */
export type SmsEncoding = "GSM-7" | "UCS-2";

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

/** The same table indexed by code unit (0: not GSM-7), for the counting loops. */
const GSM_SEPTETS_BY_UNIT: Uint8Array = (() => {
  const table = new Uint8Array(0x10000);
  for (const [unit, septets] of GSM_SEPTETS) table[unit] = septets;
  return table;
})();

/**
 * Twilio's Smart Encoding replacements (the table the reference calculator emulates): typographic
 * quotes, dashes, spaces, fullwidth forms and a few symbols become GSM-7 look-alikes.
 */
export const SMART_ENCODING: ReadonlyMap<string, string> = new Map<string, string>([
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

/** Code units Smart Encoding replaces (every key is one BMP unit), for a quick "nothing to do". */
const SMART_ENCODING_UNITS: Uint8Array = (() => {
  const table = new Uint8Array(0x10000);
  for (const key of SMART_ENCODING.keys()) table[key.charCodeAt(0)] = 1;
  return table;
})();

/**
 * Applies Twilio's Smart Encoding replacements (curly quotes, dashes, ellipsis, special spaces…),
 * code point by code point.
 */
export function applySmartEncoding(text: string): string {
  let first = 0;
  while (first < text.length && SMART_ENCODING_UNITS[text.charCodeAt(first)] === 0) first++;
  if (first === text.length) return text;
  // Keys are single BMP units and never surrogates, so replacing unit by unit is the same as
  // replacing code point by code point.
  let out = text.slice(0, first);
  for (let i = first; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out += SMART_ENCODING_UNITS[unit] === 1 ? SMART_ENCODING.get(text[i])! : text[i];
  }
  return out;
}

/**
 * Whether every code unit is GSM-7. Such a text is GSM-7 and each of its units is a grapheme of
 * its own: GSM-7 characters have Grapheme_Cluster_Break Other, CR, LF or Control, which join
 * nothing (the one pair, `\r\n`, the reference counts as two characters).
 */
function allGsm(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (GSM_SEPTETS_BY_UNIT[text.charCodeAt(i)] === 0) return false;
  }
  return true;
}

/** Reused buffers: the splitter's grapheme ends, and the counted graphemes' ends and bits. */
let rawEndsBuffer = new Int32Array(2048);
let endsBuffer = new Int32Array(2048);
let bitsBuffer = new Int32Array(2048);

function reserve(length: number): void {
  if (bitsBuffer.length < length) {
    rawEndsBuffer = new Int32Array(length * 2);
    endsBuffer = new Int32Array(length * 2);
    bitsBuffer = new Int32Array(length * 2);
  }
}

/**
 * Graphemes of a UCS-2 text as the reference sees them (`\r\n` is two characters of 16 bits):
 * fills `endsBuffer` / `bitsBuffer` and returns the count.
 */
function ucs2Graphemes(text: string): number {
  reserve(text.length);
  const raw = rawEndsBuffer;
  const ends = endsBuffer;
  const bits = bitsBuffer;
  const count = graphemeEnds(text, raw);
  let out = 0;
  let start = 0;
  for (let g = 0; g < count; g++) {
    const end = raw[g];
    if (end - start === 2 && text.charCodeAt(start) === 13 && text.charCodeAt(start + 1) === 10) {
      ends[out] = start + 1;
      bits[out++] = 16;
      ends[out] = end;
      bits[out++] = 16;
    } else {
      ends[out] = end;
      bits[out++] = 16 * (end - start);
    }
    start = end;
  }
  return out;
}

/**
 * The reference's packing, on grapheme sizes: graphemes are appended to the current segment
 * while they fit; the first overflow adds the 6-octet header to the first segment (moving its
 * last graphemes into the second) and opens a new segment with a header. A grapheme larger than
 * a segment is appended anyway, as the reference does. Returns the segment count; with `starts`,
 * also the index of each segment's first grapheme.
 */
function pack(bits: Int32Array, count: number, starts?: number[]): number {
  let segments = 1;
  let current = 0;
  let hasHeader = false;
  starts?.push(0);
  for (let i = 0; i < count; i++) {
    const size = bits[i];
    if (SEGMENT_BITS - current < size) {
      segments++;
      if (!hasHeader) {
        // Only the first segment lacks a header; its graphemes are [0, i).
        hasHeader = true;
        let kept = current + HEADER_BITS;
        let j = i;
        while (kept > SEGMENT_BITS) kept -= bits[--j];
        current = HEADER_BITS + (current + HEADER_BITS - kept);
        starts?.push(j);
      } else {
        current = HEADER_BITS;
        starts?.push(i);
      }
    }
    current += size;
  }
  return segments;
}

/** {@link pack} for a GSM-7 text, reading septets straight from the text (no buffers). */
function packGsm(text: string): number {
  let segments = 1;
  let current = 0;
  let hasHeader = false;
  for (let i = 0; i < text.length; i++) {
    const size = 7 * GSM_SEPTETS_BY_UNIT[text.charCodeAt(i)];
    if (SEGMENT_BITS - current < size) {
      segments++;
      if (!hasHeader) {
        hasHeader = true;
        let kept = current + HEADER_BITS;
        let j = i;
        while (kept > SEGMENT_BITS) kept -= 7 * GSM_SEPTETS_BY_UNIT[text.charCodeAt(--j)];
        current = HEADER_BITS + (current + HEADER_BITS - kept);
      } else {
        current = HEADER_BITS;
      }
    }
    current += size;
  }
  return segments;
}

/** Distinct non-GSM graphemes of a UCS-2 text (after {@link ucs2Graphemes}), in order. */
function nonGsmOf(text: string, count: number): string[] {
  const seen = new Set<string>();
  let start = 0;
  for (let g = 0; g < count; g++) {
    const end = endsBuffer[g];
    if (end - start !== 1 || GSM_SEPTETS_BY_UNIT[text.charCodeAt(start)] === 0) {
      seen.add(text.slice(start, end));
    }
    start = end;
  }
  return [...seen];
}

/** The encoding Twilio will use for a body. */
export function detectEncoding(text: string, options: SegmentOptions = {}): SmsEncoding {
  const counted = options.smartEncoding ? applySmartEncoding(text) : text;
  return allGsm(counted) ? "GSM-7" : "UCS-2";
}

/**
 * Distinct non-GSM characters of a body, in order of first appearance: what to tell a user whose
 * message turned UCS-2 (and costs 70 instead of 160 characters per segment).
 */
export function nonGsmCharacters(text: string, options: SegmentOptions = {}): string[] {
  const counted = options.smartEncoding ? applySmartEncoding(text) : text;
  if (allGsm(counted)) return [];
  return nonGsmOf(counted, ucs2Graphemes(counted));
}

/**
 * Encoding, segment count and per-segment split of a body.
 *
 * Mirrors the reference's algorithm step for step (see {@link pack}); it works on grapheme
 * offsets and sizes rather than strings, so a body costs one pass and no per-character objects.
 */
export function analyzeSegments(text: string, options: SegmentOptions = {}): SegmentAnalysis {
  const counted = options.smartEncoding ? applySmartEncoding(text) : text;
  const starts: number[] = [];
  const parts: string[] = [];
  if (allGsm(counted)) {
    const length = counted.length;
    reserve(length);
    let septets = 0;
    for (let i = 0; i < length; i++) {
      const s = GSM_SEPTETS_BY_UNIT[counted.charCodeAt(i)];
      septets += s;
      bitsBuffer[i] = 7 * s;
    }
    const segments = pack(bitsBuffer, length, starts);
    for (let s = 0; s < segments; s++) {
      parts.push(counted.slice(starts[s], s + 1 < segments ? starts[s + 1] : length));
    }
    return {
      text: counted,
      encoding: "GSM-7",
      segments,
      units: septets,
      unitsPerSegment: segments > 1 ? 153 : 160,
      graphemes: length,
      nonGsmCharacters: [],
      parts,
    };
  }
  const count = ucs2Graphemes(counted);
  const segments = pack(bitsBuffer, count, starts);
  const offset = (g: number) => (g === 0 ? 0 : endsBuffer[g - 1]);
  for (let s = 0; s < segments; s++) {
    parts.push(
      counted.slice(offset(starts[s]), s + 1 < segments ? offset(starts[s + 1]) : counted.length),
    );
  }
  return {
    text: counted,
    encoding: "UCS-2",
    segments,
    units: counted.length,
    unitsPerSegment: segments > 1 ? 67 : 70,
    graphemes: count,
    nonGsmCharacters: nonGsmOf(counted, count),
    parts,
  };
}

/** Number of segments Twilio will bill for a body. */
export function countSegments(text: string, options: SegmentOptions = {}): number {
  const counted = options.smartEncoding ? applySmartEncoding(text) : text;
  // Up to 80 GSM-7 characters (at most 160 septets) and 70 UCS-2 units always fit one segment.
  if (allGsm(counted)) return counted.length <= 80 ? 1 : packGsm(counted);
  if (counted.length <= 70) return 1;
  return pack(bitsBuffer, ucs2Graphemes(counted));
}
