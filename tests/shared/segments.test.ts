import assert from "node:assert/strict";
import fc from "fast-check";
import { SegmentedMessage } from "sms-segments-calculator";
import {
  analyzeSegments,
  applySmartEncoding,
  countSegments,
  detectEncoding,
  isGsmCharacter,
  nonGsmCharacters,
} from "@shared/text/segments.ts";

const GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION = "\f^{}\\[~]|€";

function reference(text: string, smartEncoding = false) {
  const m = new SegmentedMessage(text, "auto", smartEncoding);
  return { encoding: m.encodingName, segments: m.segmentsCount };
}

function assertAgrees(text: string, smartEncoding = false) {
  const ours = analyzeSegments(text, { smartEncoding });
  assert.deepEqual(
    { encoding: ours.encoding, segments: ours.segments },
    reference(text, smartEncoding),
    `mismatch for ${JSON.stringify(text)}`,
  );
}

Deno.test("segments: Twilio's published GSM-7 cases (160/161 and 307 digits)", () => {
  assert.deepEqual(pick(analyzeSegments("1".repeat(160))), ["GSM-7", 1, 160, 160]);
  assert.deepEqual(pick(analyzeSegments("1".repeat(161))), ["GSM-7", 2, 161, 153]);
  assert.deepEqual(pick(analyzeSegments("1".repeat(306))), ["GSM-7", 2, 306, 153]);
  assert.deepEqual(pick(analyzeSegments("1".repeat(307))), ["GSM-7", 3, 307, 153]);
  for (const n of [0, 1, 159, 160, 161, 305, 306, 307, 459, 460, 1600]) {
    assertAgrees("1".repeat(n));
  }
});

function pick(a: ReturnType<typeof analyzeSegments>) {
  return [a.encoding, a.segments, a.units, a.unitsPerSegment];
}

Deno.test("segments: an empty body is one GSM-7 segment, like the reference", () => {
  assert.deepEqual(pick(analyzeSegments("")), ["GSM-7", 1, 0, 160]);
});

Deno.test("segments: extension characters cost two septets and stay whole at the 160 edge", () => {
  for (const ch of GSM_EXTENSION) {
    assert.equal(analyzeSegments(ch).units, 2, `extension ${JSON.stringify(ch)}`);
    assert.equal(analyzeSegments(ch.repeat(80)).segments, 1);
    assert.equal(analyzeSegments(ch.repeat(80) + "a").segments, 2);
    // 159 basic + 1 extension = 161 septets: two segments.
    assert.equal(analyzeSegments("a".repeat(159) + ch).segments, 2);
    // 152 basic then an extension: the escape would be septet 153 of part one, so it moves.
    const split = analyzeSegments("a".repeat(152) + ch + "a".repeat(10));
    assert.equal(split.parts[0], "a".repeat(152));
    assert.ok(split.parts[1].startsWith(ch));
    assertAgrees("a".repeat(159) + ch);
    assertAgrees("a".repeat(152) + ch + "a".repeat(10));
    assertAgrees("a".repeat(158) + ch);
  }
});

Deno.test("segments: emoji at the 70/67 UCS-2 edges", () => {
  // 😀 is two UTF-16 units.
  assert.deepEqual(pick(analyzeSegments("😀".repeat(35))), ["UCS-2", 1, 70, 70]);
  assert.deepEqual(pick(analyzeSegments("😀".repeat(36))), ["UCS-2", 2, 72, 67]);
  assert.deepEqual(pick(analyzeSegments("a".repeat(69) + "😀")), ["UCS-2", 2, 71, 67]);
  // 66 units then a surrogate pair: the pair is not split, so part one keeps 66 units.
  const edge = analyzeSegments("a".repeat(66) + "😀" + "b".repeat(10));
  assert.equal(edge.parts[0], "a".repeat(66));
  assert.equal(edge.parts[1], "😀" + "b".repeat(10));
  for (const n of [65, 66, 67, 68, 69, 70, 133, 134, 135]) {
    assertAgrees("a".repeat(n) + "😀");
    assertAgrees("😀".repeat(n));
  }
});

Deno.test("segments: flags and ZWJ sequences are never split across segments", () => {
  // 🇺🇸 is one grapheme of 4 units: 17 flags + "ab" fill exactly 70 units.
  const flags = "🇺🇸".repeat(17) + "ab";
  const a = analyzeSegments(flags);
  assert.equal(a.encoding, "UCS-2");
  assert.equal(a.units, 70);
  assert.equal(a.segments, 1);
  const b = analyzeSegments("a" + flags);
  assert.equal(b.segments, 2);
  for (const part of b.parts) {
    assert.equal([...part].filter((c) => /\p{Regional_Indicator}/u.test(c)).length % 2, 0);
  }
  const family = "👨‍👩‍👧‍👦"; // 11 units, one grapheme
  const c = analyzeSegments("x".repeat(60) + family);
  assert.equal(c.segments, 2);
  assert.equal(c.parts[1], family);
  for (const n of [55, 56, 57, 58, 59, 60, 63, 64, 65, 66, 67]) {
    assertAgrees("x".repeat(n) + family + "y");
    assertAgrees("x".repeat(n) + "🇺🇸🇫🇷" + "y");
    assertAgrees("x".repeat(n) + "👍🏽" + "y");
  }
});

Deno.test("segments: combining accents make UCS-2 and stay with their base", () => {
  const decomposed = "e\u0301"; // é as e + combining acute: not GSM-7 (the precomposed é is)
  assert.equal(detectEncoding("caf\u00e9"), "GSM-7");
  assert.equal(detectEncoding("cafe\u0301"), "UCS-2");
  assert.deepEqual(nonGsmCharacters("cafe\u0301 cafe\u0301"), [decomposed]);
  // 66 + 2 + 5 = 73 units: two segments, and the accent does not leave its base behind.
  const a = analyzeSegments("a".repeat(66) + decomposed + "z".repeat(5));
  assert.equal(a.segments, 2);
  assert.equal(a.parts[1], decomposed + "z".repeat(5));
  for (const n of [64, 65, 66, 67, 68, 69]) assertAgrees("a".repeat(n) + decomposed);
});

Deno.test("segments: non-GSM characters are listed once, in order", () => {
  assert.deepEqual(nonGsmCharacters("Hi “Ann” 😀 – see you 😀"), ["“", "”", "😀", "–"]);
  assert.deepEqual(nonGsmCharacters("plain GSM text {€}"), []);
  assert.deepEqual(analyzeSegments("ok ✓").nonGsmCharacters, ["✓"]);
});

Deno.test("segments: Smart Encoding turns typographic punctuation into GSM-7", () => {
  const text = "“Thanks” — it’s… ready «soon»\u00a0ok";
  assert.equal(detectEncoding(text), "UCS-2");
  assert.equal(detectEncoding(text, { smartEncoding: true }), "GSM-7");
  assert.equal(applySmartEncoding("‘a’ “b” – — …"), "'a' \"b\" - - ...");
  assertAgrees(text, true);
  assert.equal(countSegments(text, { smartEncoding: true }), 1);
});

Deno.test("segments: GSM-7 table agrees with the reference for every BMP code unit", () => {
  for (let c = 0; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    const ref = new SegmentedMessage(ch);
    const gsm = ref.encodingName === "GSM-7";
    assert.equal(isGsmCharacter(ch), gsm, `U+${c.toString(16)}`);
    if (gsm) assert.equal(analyzeSegments(ch).units, ref.numberOfCharacters);
  }
  for (const ch of GSM_BASIC) assert.ok(isGsmCharacter(ch));
  for (const ch of GSM_EXTENSION) assert.ok(isGsmCharacter(ch));
});

Deno.test("segments: the parts concatenate back to the text and respect capacity", () => {
  const text = "Hello 😀 ".repeat(40) + "e\u0301".repeat(30);
  const a = analyzeSegments(text);
  assert.equal(a.parts.join(""), text);
  assert.equal(a.parts.length, a.segments);
});

// Pieces the property test draws from: single characters of each class and whole sequences.
const EMOJI = ["😀", "👍", "👍🏽", "🏽", "❤", "❤️", "✈️", "🇺🇸", "🇫🇷", "🇯", "🏳️‍🌈", "🐻‍❄️", "🧑‍🤝‍🧑"];
const ZWJ_SEQUENCES = ["👨‍👩‍👧‍👦", "👩‍❤️‍👨", "👁️‍🗨️", "❤️‍🔥", "🧑🏽‍💻", "a\u200d❤", "\u200d", "\u200d👩"];
const COMBINING = ["\u0301", "\u0300", "\u0308", "\u0327", "\u20dd", "\ufe0f", "\u036f"];
const LATIN1 = Array.from({ length: 0x60 }, (_, i) => String.fromCharCode(0xa0 + i));

const piece = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...GSM_BASIC) },
  { weight: 3, arbitrary: fc.constantFrom(...GSM_EXTENSION) },
  { weight: 2, arbitrary: fc.constantFrom(...LATIN1) },
  { weight: 2, arbitrary: fc.constantFrom(...EMOJI) },
  { weight: 1, arbitrary: fc.constantFrom(...ZWJ_SEQUENCES) },
  { weight: 2, arbitrary: fc.constantFrom(...COMBINING) },
  { weight: 1, arbitrary: fc.constantFrom("\r\n", "\r", "\n", "\t", "“", "’", "—", "…") },
);

// A run of plain characters pushes the random tail across the 67/70/153/160 boundaries.
const message = fc.tuple(
  fc.constantFrom(0, 0, 50, 60, 64, 66, 130, 133, 140, 150, 152, 158, 300),
  fc.array(piece, { maxLength: 120 }),
).map(([pad, pieces]) => "x".repeat(pad) + pieces.join(""));

Deno.test("segments: property — 100% agreement with sms-segments-calculator (6,000 cases)", () => {
  fc.assert(
    fc.property(message, fc.boolean(), (text, smart) => {
      const ours = analyzeSegments(text, { smartEncoding: smart });
      const ref = new SegmentedMessage(text, "auto", smart);
      assert.equal(ours.encoding, ref.encodingName, JSON.stringify(text));
      assert.equal(ours.segments, ref.segmentsCount, JSON.stringify(text));
      assert.deepEqual(ours.nonGsmCharacters, [...new Set(ref.getNonGsmCharacters())]);
    }),
    { numRuns: 6000 },
  );
});
