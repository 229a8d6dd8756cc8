import assert from "node:assert/strict";
import fc from "fast-check";
import {
  classifyKeyword,
  classifyReply,
  HELP_KEYWORDS,
  normalizeReply,
  OPT_IN_KEYWORDS,
  OPT_OUT_KEYWORDS,
} from "@shared/compliance/keywords.ts";
import type { KeywordClass } from "@shared/compliance/keywords.ts";

const TABLE: [string, KeywordClass][] = [
  // Twilio's default keywords, any case, spacing and punctuation.
  ["STOP", "opt_out"],
  ["stop", "opt_out"],
  [" Stop. ", "opt_out"],
  ["STOP!!!", "opt_out"],
  ["STOPALL", "opt_out"],
  ["Stop all", "opt_out"],
  ["UNSUBSCRIBE", "opt_out"],
  ["Cancel", "opt_out"],
  ["end", "opt_out"],
  ["QUIT", "opt_out"],
  ["OptOut", "opt_out"],
  ["opt-out", "opt_out"],
  ["Opt out", "opt_out"],
  ["REVOKE", "opt_out"],
  ["S T O P", "opt_out"],
  ["s.t.o.p", "opt_out"],
  ["ＳＴＯＰ", "opt_out"],
  ["stop stop stop", "opt_out"],
  ['"STOP"', "opt_out"],
  ["START", "opt_in"],
  ["start", "opt_in"],
  ["Yes", "opt_in"],
  ["YES!", "opt_in"],
  ["unstop", "opt_in"],
  ["UNSTOP.", "opt_in"],
  ["HELP", "help"],
  ["help?", "help"],
  ["Info", "help"],
  ["INFO.", "help"],
  // FCC: revocation by any reasonable means.
  ["Stop texting me", "opt_out"],
  ["please unsubscribe", "opt_out"],
  ["Please stop sending these", "opt_out"],
  ["I want to opt out", "opt_out"],
  ["Unsubscribe me please", "opt_out"],
  ["quit messaging me", "opt_out"],
  ["revoke my consent", "opt_out"],
  ["Cancel my subscription", "opt_out"],
  ["end these messages", "opt_out"],
  ["Remove me from your list", "opt_out"],
  ["Take me off this list", "opt_out"],
  ["leave me alone", "opt_out"],
  ["No more texts please", "opt_out"],
  ["Don't text me again", "opt_out"],
  ["do not contact me", "opt_out"],
  ["Wrong number", "opt_out"],
  ["who is this? wrong number", "opt_out"],
  ["not interested", "opt_out"],
  ["unsub", "opt_out"],
  ["ALTO", "opt_out"],
  ["Cancelar", "opt_out"],
  ["stopp", "opt_out"],
  // Misleading: a revocation word wins over anything else (when in doubt, honour the opt-out).
  ["Yes, stop", "opt_out"],
  ["START STOP", "opt_out"],
  ["help me stop these", "opt_out"],
  ["Don't stop!", "opt_out"],
  ["I'll stop by tomorrow", "opt_out"],
  ["Can I cancel my appointment?", "opt_out"],
  ["The end", "opt_out"],
  // Misleading: look like keywords but are not.
  ["unstoppable deals!", "other"],
  ["See you this weekend", "other"],
  ["I stopped by yesterday", "other"],
  ["legendary service", "other"],
  ["cancelled my order already", "other"],
  ["Yes please, I'd love to", "other"],
  ["start time?", "other"],
  ["yesterday was great", "other"],
  ["I need help with my order", "other"],
  ["more info on pricing", "other"],
  ["information", "other"],
  ["Thanks! 5 stars", "other"],
  ["What time do you open?", "other"],
  ["😀", "other"],
  ["", "other"],
  ["   ", "other"],
  ["?!", "other"],
  ["Quitting time at 5", "other"],
  ["Stopwatch", "other"],
];

Deno.test("keywords: table of replies", () => {
  assert.ok(TABLE.length >= 60, `${TABLE.length} rows`);
  for (const [reply, expected] of TABLE) {
    assert.equal(classifyKeyword(reply), expected, JSON.stringify(reply));
  }
});

Deno.test("keywords: every Twilio default keyword, exact", () => {
  for (const k of OPT_OUT_KEYWORDS) {
    assert.deepEqual(classifyReply(k), { kind: "opt_out", matched: k.toLowerCase(), via: "exact" });
  }
  for (const k of OPT_IN_KEYWORDS) assert.equal(classifyKeyword(k), "opt_in");
  for (const k of HELP_KEYWORDS) assert.equal(classifyKeyword(k), "help");
  assert.deepEqual(classifyReply("Please stop"), {
    kind: "opt_out",
    matched: "stop",
    via: "contains",
  });
  assert.deepEqual(classifyReply("remove me"), {
    kind: "opt_out",
    matched: "remove me",
    via: "contains",
  });
});

Deno.test("keywords: normalisation", () => {
  assert.equal(normalizeReply("  S.T.O.P!  "), "stop");
  assert.equal(normalizeReply("Don’t   TEXT\nme"), "don t text me");
  assert.equal(normalizeReply("Ｓｔｏｐ"), "stop");
  assert.equal(normalizeReply("Café"), "cafe");
});

Deno.test("keywords: property — any text containing a standalone STOP is an opt-out", () => {
  const word = fc.stringMatching(/^[a-z]{1,8}$/);
  fc.assert(
    fc.property(fc.array(word, { maxLength: 6 }), fc.array(word, { maxLength: 6 }), (a, b) => {
      const text = [...a, "STOP", ...b].join(" ");
      assert.equal(classifyKeyword(text), "opt_out");
    }),
    { numRuns: 500 },
  );
  fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => {
    assert.ok(["opt_out", "opt_in", "help", "other"].includes(classifyKeyword(s)));
  }));
});
