/**
 * Grapheme cluster splitting exactly as Twilio's segment calculator does it.
 *
 * `sms-segments-calculator` (the reference for segment counts) splits text with the npm package
 * `grapheme-splitter` 1.0.4, which implements UAX #29 of Unicode 10. `Intl.Segmenter` follows the
 * current Unicode version and groups differently (emoji modifiers after a non-emoji base, ZWJ
 * sequences made of post-2017 emoji, Indic conjuncts), which changes where a UCS-2 message breaks.
 * To agree with the reference on every input this module ports that splitter: the same rule
 * function and the same property table (generated from it, with Hangul syllables computed).
 *
 * Port of grapheme-splitter 1.0.4, (c) Orlin Georgiev, MIT licence.
 *
 * @module
 */

// Grapheme_Cluster_Break property values (Unicode 10).
const CR = 0;
const LF = 1;
const CONTROL = 2;
const EXTEND = 3;
const REGIONAL_INDICATOR = 4;
const SPACING_MARK = 5;
const L = 6;
const V = 7;
const T = 8;
const LV = 9;
const LVT = 10;
const OTHER = 11;
const PREPEND = 12;
const E_BASE = 13;
const E_MODIFIER = 14;
const ZWJ = 15;
const GLUE_AFTER_ZWJ = 16;
const E_BASE_GAZ = 17;

const LETTER_TO_PROPERTY: Record<string, number> = {
  C: CR,
  F: LF,
  K: CONTROL,
  E: EXTEND,
  R: REGIONAL_INDICATOR,
  S: SPACING_MARK,
  L,
  V,
  T,
  P: PREPEND,
  B: E_BASE,
  M: E_MODIFIER,
  Z: ZWJ,
  G: GLUE_AFTER_ZWJ,
  H: E_BASE_GAZ,
};

/*
 * Every code point whose property is not Other, outside the Hangul syllables block. Each token is
 * `<gap><property letter><length>`: gap (base 36) from the end of the previous range, the letter
 * of LETTER_TO_PROPERTY, then the range length minus one (base 36, empty for a single code point).
 */
const PACKED_RANGES = [
  "0K9 0F 0K1 0C 0Kh 2nKw dK giE33 7nE6 7bE18 1E 1E1 1E1 1E 1kP5 aEa 1K 1aEk gE 2tE6 0P 1E5 ",
  "2E1 1E3 xP 1E uEq 2jEa 1mE8 yE3 1E8 1E2 1E4 17E2 3cEd 0P 0Ev 0S 1iE 0S 0E 1S2 0E7 0S3 0E ",
  "0S1 1E6 aE1 tE 0S1 1kE 1E 0S1 0E3 2S1 2S1 0E 9E aE1 tE1 0S 1kE 1S2 0E1 4E1 2E2 3E uE1 3E ",
  "bE1 0S 1kE 1S2 0E4 1E1 0S 1S1 0E kE1 mE5 1E 0S1 1kE 1E1 0S 0E3 2S1 2S1 0E 8E1 aE1 uE 1nE ",
  "0S 0E 0S1 3S2 1S2 0E 9E 14E 0S2 1mE2 0S3 1E2 1E3 7E1 bE1 tE 0S1 1kE 1S 0E 0S1 0E 0S1 1E ",
  "0S1 1S1 0E1 7E1 bE1 sE1 0S1 1jE1 1E 0S1 0E3 1S2 1S2 0E 0P 8E aE1 uS1 1yE 4E 0S1 0E2 1E ",
  "1S6 0E iS1 1pE 1S 0E6 cE7 2qE 1S 0E5 1E1 bE5 22E1 rE 1E 1E 4S1 1dEd 0S 0E4 1E1 5Ea 1Ez ",
  "9E 2uE3 0S 0E5 1E1 0S1 0E1 nS1 0E1 4E2 gE3 dE 1S 0E1 6E fE 2qL2n 0V1z 0T2f 9pE2 qaE2 tE2 ",
  "tE1 uE1 1sE1 0S 0E6 0S7 0E 0S1 0Ea 9E 19E2 0K 3aE1 yE 3aE2 0S3 0E1 0S2 4S1 0E 0S5 0E2 ",
  "63E1 0S1 0E 1lS 0E 0S 0E6 1E 1E 2E7 0S5 0E9 2E 1cEe 1tE3 0S 1bE 0S 0E4 0S 0E 0S4 0E 0S1 ",
  "12E8 cE1 0S uS 0E3 0S1 0E1 0S 0E2 1kE 0S 0E1 0S2 0E 0S 0E2 0S1 1cS7 0E7 0S1 0E1 48E2 1Ec ",
  "0S 0E6 4E 4S1 0E 2S 0E1 5iE1l 1E4 ejK 0E 0Z 0K1 oK6 1dKf 2oEw 10sB yG 1G 2aG1 2qB eG 1B3 ",
  "2eG 13eE2 3xE 2oEv feE5 2xE1 n9wE3 1E9 wE1 28E1 7kE 3E 4E nS1 0E1 0S 2gS1 1eSf 0E1 qEh ",
  "1gE7 pEa 0S1 cLs 3E2 0S 1bE 0S1 0E3 0S1 0E 0S3 10E 1vE5 0S1 0E1 0S1 0E1 cE 8E 0S 1aE 1fE ",
  "1E2 2E1 5E1 1E 15S 0E1 0S1 5S 0E 6kS1 0E 0S1 0E 0S1 1S 0E 8n6Vm 4T1c 4K1kv 5cuE khEf gEf ",
  "5rK 4eE1 28Kb e9E 6aE 45E4 1aeE2 1E1 5E3 14E2 4E 4lE1 109S 0E 0S 1hEe 1kE2 0S 19S2 0E3 ",
  "0S1 0E1 2P 1uE2 10E4 0S 0E7 1qE cE1 0S 1cS2 0E8 0S1 1P1 6E2 2nS2 0E2 0S1 0E 0S 0E1 6E ",
  "4gE 0S2 0E7 lE1 0S1 1kE 1E 0S 0E 0S3 2S1 2S2 9E aS1 2E6 3E4 5cS2 0E7 0S1 0E2 0S 0E 2xE ",
  "0S1 0E5 0S 0E 0S1 0E 0S 0E1 0S 0E1 6jE 0S1 0E3 2S3 0E1 0S 0E1 rE1 2aS2 0E7 0S1 0E 0S 0E1 ",
  "2yE 0S 0E 0S1 0E5 0S 0E 2tE2 0S1 0E3 0S 0E4 k5E5 0S1 0E1 14E5 0S 0P 0E3 8E 9E5 0S1 0E2 ",
  "16P3 0Ec 0S 0E1 b9S 0E6 1E5 0S 0E 2aEl 1S 0E6 0S 0E1 0S 0E1 3eE5 3E 1E1 1E6 0P 0E fc8E4 ",
  "1nE6 t6S19 gE3 f7uE1 1K3 43lE 0S 0E2 3S 0E4 0K7 0E7 2E6 uE3 44E2 1izE1i 4E1d 8E eE mE4 ",
  "1Ee 11sE6 1Eg 2E6 1E1 1E4 1phE6 31E6 1p7Rp 7cG 1hG 1gG hB dG gG 3G pB2 2B 2B2 uG 1G dM4 ",
  "1uB1 2Ba lH3 4B 1B8 3B 4B2 1B2 3G uB gG1 2yG 4G 1zB1 4B lB 4B1 29G 2kB2 3B4 1cG hG gB ",
  "gB2 9B bB gbB4 1B1 6B 9B9 3B1 42Bc gw0yKv 0E2n 0K3j 0E6n 0K2rz ",
].join("");

const RANGE_STARTS: number[] = [];
const RANGE_ENDS: number[] = [];
const RANGE_PROPERTIES: number[] = [];

/**
 * The property of every BMP code point, one byte each (64 KiB), so the splitter's inner loop is a
 * table read; code points above U+FFFF use the binary search. Built on first use (with the range
 * table), so a function that never splits text does not pay for it at start-up.
 */
let BMP_PROPERTIES: Uint8Array = new Uint8Array(0);

function unpack(): Uint8Array {
  let previousEnd = -1;
  for (const token of PACKED_RANGES.trim().split(" ")) {
    const match = /^([0-9a-z]+)([A-Z])([0-9a-z]*)$/.exec(token);
    if (!match) throw new Error(`bad grapheme table token ${token}`);
    const start = previousEnd + 1 + parseInt(match[1], 36);
    const end = start + (match[3] === "" ? 0 : parseInt(match[3], 36));
    RANGE_STARTS.push(start);
    RANGE_ENDS.push(end);
    RANGE_PROPERTIES.push(LETTER_TO_PROPERTY[match[2]]);
    previousEnd = end;
  }
  const table = new Uint8Array(0x10000).fill(OTHER);
  for (let i = 0; i < RANGE_STARTS.length && RANGE_STARTS[i] < 0x10000; i++) {
    table.fill(RANGE_PROPERTIES[i], RANGE_STARTS[i], Math.min(RANGE_ENDS[i], 0xffff) + 1);
  }
  for (let cp = 0xac00; cp <= 0xd7a3; cp++) table[cp] = (cp - 0xac00) % 28 === 0 ? LV : LVT;
  return (BMP_PROPERTIES = table);
}

/** The BMP table, unpacking the tables on first use. */
function bmpProperties(): Uint8Array {
  return BMP_PROPERTIES.length ? BMP_PROPERTIES : unpack();
}

function searchProperty(codePoint: number): number {
  let low = 0;
  let high = RANGE_STARTS.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (codePoint < RANGE_STARTS[mid]) high = mid - 1;
    else if (codePoint > RANGE_ENDS[mid]) low = mid + 1;
    else return RANGE_PROPERTIES[mid];
  }
  return OTHER;
}

/** Grapheme_Cluster_Break property of a code point, as grapheme-splitter 1.0.4 assigns it. */
export function graphemeBreakProperty(codePoint: number): number {
  const bmp = bmpProperties();
  return codePoint < 0x10000 ? bmp[codePoint] : searchProperty(codePoint);
}

/*
 * The rule function of grapheme-splitter 1.0.4, kept rule for rule (including its look-ahead
 * quirks for E_Modifier and regional indicators): agreement with the reference matters more
 * than agreement with the current UAX #29.
 *
 * The reference builds `all = [start, ...mid, next]` for every code point; here `all` is
 * `props[0..n)` of a reused buffer (no allocation), `props[n - 1]` being `next`.
 */
function shouldBreak(props: Uint8Array, n: number): boolean {
  const start = props[0];
  const previous = props[n - 2];
  const next = props[n - 1];
  let i: number;

  // all.lastIndexOf(E_MODIFIER) > 1 and all.slice(1, it) all Extend, start not a base.
  for (i = n - 1; i >= 0 && props[i] !== E_MODIFIER; i--);
  if (i > 1 && start !== EXTEND && start !== E_BASE && start !== E_BASE_GAZ) {
    let allExtend = true;
    for (let j = 1; j < i; j++) {
      if (props[j] !== EXTEND) {
        allExtend = false;
        break;
      }
    }
    if (allExtend) return true;
  }

  // all.lastIndexOf(REGIONAL_INDICATOR) > 0 and all.slice(1, it) all regional indicators.
  for (i = n - 1; i >= 0 && props[i] !== REGIONAL_INDICATOR; i--);
  if (i > 0 && previous !== PREPEND && previous !== REGIONAL_INDICATOR) {
    let allRi = true;
    for (let j = 1; j < i; j++) {
      if (props[j] !== REGIONAL_INDICATOR) {
        allRi = false;
        break;
      }
    }
    if (allRi) return true;
  }

  if (previous === CR && next === LF) return false;
  if (previous === CONTROL || previous === CR || previous === LF) return true;
  if (next === CONTROL || next === CR || next === LF) return true;
  if (previous === L && (next === L || next === V || next === LV || next === LVT)) return false;
  if ((previous === LV || previous === V) && (next === V || next === T)) return false;
  if ((previous === LVT || previous === T) && next === T) return false;
  if (next === EXTEND || next === ZWJ) return false;
  if (next === SPACING_MARK) return false;
  if (previous === PREPEND) return false;

  // previousNonExtendIndex: all.lastIndexOf(EXTEND) - 1 when `all` has an Extend, else n - 2.
  for (i = n - 1; i >= 0 && props[i] !== EXTEND; i--);
  const previousNonExtend = i >= 0 ? i - 1 : n - 2;
  if (
    next === E_MODIFIER && previousNonExtend >= 0 &&
    (props[previousNonExtend] === E_BASE || props[previousNonExtend] === E_BASE_GAZ)
  ) {
    let allExtend = true;
    for (let j = previousNonExtend + 1; j < n - 1; j++) {
      if (props[j] !== EXTEND) {
        allExtend = false;
        break;
      }
    }
    if (allExtend) return false;
  }

  if (previous === ZWJ && (next === GLUE_AFTER_ZWJ || next === E_BASE_GAZ)) return false;

  // mid (props[1..n-1)) has a regional indicator.
  for (i = 1; i < n - 1; i++) if (props[i] === REGIONAL_INDICATOR) return true;
  if (previous === REGIONAL_INDICATOR && next === REGIONAL_INDICATOR) return false;

  return true;
}

/** Properties of the cluster being built (start, mid…, next); grown when a cluster is long. */
let clusterProps = new Uint8Array(64);

/**
 * Index where the grapheme starting at `index` ends, as grapheme-splitter's `nextBreak`: every
 * code point after the start is tested against the cluster so far (a lone surrogate counts as
 * its own code unit; the low half of a pair is skipped).
 */
function nextBreak(text: string, index: number): number {
  const BMP = bmpProperties();
  const length = text.length;
  if (index >= length - 1) return length;
  let unit = text.charCodeAt(index);
  let cp = unit;
  if (unit >= 0xd800 && unit <= 0xdbff) {
    const low = text.charCodeAt(index + 1);
    if (low >= 0xdc00 && low <= 0xdfff) cp = (unit - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
  } else if (unit >= 0xdc00 && unit <= 0xdfff && index >= 1) {
    const high = text.charCodeAt(index - 1);
    if (high >= 0xd800 && high <= 0xdbff) {
      cp = (high - 0xd800) * 0x400 + (unit - 0xdc00) + 0x10000;
    }
  }
  let props = clusterProps;
  const start = cp < 0x10000 ? BMP[cp] : searchProperty(cp);
  props[0] = start;
  let n = 1; // entries of `all` before `next`
  let previousUnit = unit;
  for (let i = index + 1; i < length; i++) {
    unit = text.charCodeAt(i);
    const pairHigh = previousUnit >= 0xd800 && previousUnit <= 0xdbff;
    previousUnit = unit;
    // The low half of a surrogate pair: the pair was looked at from its high half.
    if (pairHigh && unit >= 0xdc00 && unit <= 0xdfff) continue;
    let next: number;
    if (unit < 0xd800 || unit > 0xdbff) {
      // A lone low surrogate here is its own code unit (a paired one was skipped above).
      next = BMP[unit];
    } else {
      const low = i < length - 1 ? text.charCodeAt(i + 1) : 0;
      next = low >= 0xdc00 && low <= 0xdfff
        ? searchProperty((unit - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000)
        : BMP[unit];
    }
    // The common case, two plain characters: every rule ends in a break.
    if (n === 1 && next === OTHER && start === OTHER) return i;
    if (n + 1 > props.length) {
      const grown = new Uint8Array(props.length * 2);
      grown.set(props);
      props = clusterProps = grown;
    }
    props[n] = next;
    if (shouldBreak(props, n + 1)) return i;
    n++;
  }
  return length;
}

/**
 * Writes the end offset (exclusive, in UTF-16 units) of each grapheme of `text` into `ends`
 * and returns how many there are. `ends` must hold at least `text.length` entries.
 */
export function graphemeEnds(text: string, ends: Int32Array): number {
  let count = 0;
  let index = 0;
  const length = text.length;
  while (index < length) {
    const brk = nextBreak(text, index);
    ends[count++] = brk;
    index = brk;
  }
  return count;
}

/**
 * Splits text into grapheme clusters exactly like grapheme-splitter 1.0.4.
 *
 * @example
 * ```ts
 * splitGraphemes("e\u0301🇺🇸!"); // ["é", "🇺🇸", "!"]
 * ```
 */
export function splitGraphemes(text: string): string[] {
  const graphemes: string[] = [];
  let index = 0;
  while (index < text.length) {
    const brk = nextBreak(text, index);
    graphemes.push(text.slice(index, brk));
    index = brk;
  }
  return graphemes;
}
