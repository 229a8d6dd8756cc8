import assert from "node:assert/strict";
import fc from "fast-check";
import { checkMessageLength, measureMessage } from "@shared/contract/message-limits.ts";

Deno.test("two GSM-7 segments fit, a third does not", () => {
  assert.equal(checkMessageLength("a".repeat(306)), null);
  const e = checkMessageLength("a".repeat(307));
  assert.equal(e?.code, "message_too_long");
  assert.equal(e?.status, 422);
  assert.deepEqual(e?.details, {
    characters: 307,
    segments: 3,
    encoding: "GSM-7",
    nonGsmCharacters: [],
    maxSegments: 2,
    maxChars: 320,
  });
});

Deno.test("one emoji makes the message UCS-2 and the error names it", () => {
  const body = "Your table is ready 🍽 " + "x".repeat(120);
  const e = checkMessageLength(body);
  assert.equal(e?.details?.encoding, "UCS-2");
  assert.deepEqual(e?.details?.nonGsmCharacters, ["🍽"]);
  assert.match(e!.message, /🍽 made it UCS-2/);
  assert.equal(checkMessageLength("🍽 ready"), null);
});

Deno.test("with Smart Encoding, curly quotes and dashes cost nothing extra", () => {
  // 200 characters: UCS-2 (3 segments of 67) as written, GSM-7 (2 of 153) once replaced.
  const body = "\u2018Thanks\u2019 \u2014 " + "x".repeat(185);
  assert.equal(checkMessageLength(body)?.code, "message_too_long");
  assert.equal(checkMessageLength(body, { smartEncoding: true }), null);
  assert.deepEqual(
    [measureMessage(body, { smartEncoding: true }).segments, measureMessage(body).segments],
    [2, 3],
  );
});

Deno.test("limits are configurable", () => {
  assert.equal(checkMessageLength("a".repeat(161), { maxSegments: 1 })?.code, "message_too_long");
  assert.equal(
    checkMessageLength("a".repeat(200), { maxChars: 100, maxSegments: 5 })?.code,
    "message_too_long",
  );
  assert.equal(checkMessageLength("a".repeat(400), { maxChars: 1600, maxSegments: 3 }), null);
});

Deno.test("property: refused exactly when over a limit", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 400 }), (body) => {
      const m = measureMessage(body);
      const refused = checkMessageLength(body) !== null;
      assert.equal(refused, m.characters > 320 || m.segments > 2);
    }),
    { numRuns: 500 },
  );
});
