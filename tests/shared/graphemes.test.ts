import assert from "node:assert/strict";
import fc from "fast-check";
import { SegmentedMessage } from "sms-segments-calculator";
import { graphemeBreakProperty, splitGraphemes } from "@shared/text/graphemes.ts";

// The reference exposes grapheme-splitter's output (with "\r\n" split in two) on `graphemes`.
function referenceGraphemes(text: string): string[] {
  return new SegmentedMessage(text).graphemes;
}

function ours(text: string): string[] {
  return splitGraphemes(text).flatMap((g) => (g === "\r\n" ? ["\r", "\n"] : [g]));
}

Deno.test("graphemes: known clusters", () => {
  assert.deepEqual(splitGraphemes("e\u0301🇺🇸!"), ["e\u0301", "🇺🇸", "!"]);
  assert.deepEqual(splitGraphemes("👨‍👩‍👧‍👦x"), ["👨‍👩‍👧‍👦", "x"]);
  assert.deepEqual(splitGraphemes("\r\n"), ["\r\n"]);
  assert.deepEqual(splitGraphemes("한국어"), ["한", "국", "어"]);
  assert.deepEqual(splitGraphemes(""), []);
  assert.deepEqual(splitGraphemes("\ud800a"), ["\ud800", "a"]);
});

Deno.test("graphemes: Unicode 10 behaviour kept where Intl.Segmenter differs", () => {
  // A skin-tone modifier after a letter is its own cluster in Unicode 10 (not in Unicode 11+).
  assert.deepEqual(splitGraphemes("a🏽"), ["a", "🏽"]);
  assert.deepEqual(referenceGraphemes("a🏽"), ["a", "🏽"]);
  // ❄ was not Glue_After_Zwj in Unicode 10, so the polar bear is two clusters.
  assert.deepEqual(splitGraphemes("🐻‍❄️"), referenceGraphemes("🐻‍❄️"));
});

Deno.test("graphemes: Hangul syllables are LV/LVT by formula", () => {
  assert.equal(graphemeBreakProperty(0xac00), 9);
  assert.equal(graphemeBreakProperty(0xac01), 10);
  assert.equal(graphemeBreakProperty(0xac00 + 28), 9);
  assert.equal(graphemeBreakProperty(0x41), 11);
});

const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const interesting = fc.constantFrom(
  "\u0301",
  "\u200d",
  "\ufe0f",
  "🏽",
  "🇺",
  "🇸",
  "\r",
  "\n",
  "\u0903",
  "\u0e33",
  "\u1100",
  "\u1161",
  "\u11a8",
  "👩",
  "❤",
  "💋",
  "\u0600",
  "\u0d4e",
  "a",
);
const textArb = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
    { weight: 1, arbitrary: anyUnit },
    { weight: 4, arbitrary: interesting },
  ),
  { maxLength: 12 },
).map((parts) => parts.join(""));

Deno.test("graphemes: property — identical to grapheme-splitter 1.0.4 (4,000 cases)", () => {
  fc.assert(
    fc.property(textArb, (text) => {
      assert.deepEqual(ours(text), referenceGraphemes(text), JSON.stringify(text));
    }),
    { numRuns: 4000 },
  );
});
