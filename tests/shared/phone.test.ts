import assert from "node:assert/strict";
import fc from "fast-check";
import {
  areaCodeOf,
  describePhone,
  isE164,
  isValidPhone,
  locatePhone,
  lookupAreaCode,
  normalizePhone,
} from "@shared/compliance/phone.ts";

function e164(input: string, defaultCountry?: Parameters<typeof normalizePhone>[1]) {
  const r = normalizePhone(input, defaultCountry);
  return r.ok ? r.e164 : `!${r.reason}`;
}

Deno.test("phone: US numbers as people type them", () => {
  for (
    const input of [
      "(415) 555-2671",
      "415-555-2671",
      "415.555.2671",
      "4155552671",
      "1 415 555 2671",
      "+1 (415) 555-2671",
      "+14155552671",
      " 415 555 2671 ",
      "1-415-555-2671",
      "415\u00a0555\u20112671",
      "011 1 415 555 2671",
    ]
  ) {
    assert.equal(e164(input), "+14155552671", input);
  }
});

Deno.test("phone: international input and other default countries", () => {
  assert.equal(e164("+44 20 7946 0958"), "+442079460958");
  assert.equal(e164("0044 20 7946 0958"), "+442079460958");
  assert.equal(e164("011 44 20 7946 0958"), "+442079460958");
  assert.equal(e164("020 7946 0958", { defaultCountry: "GB" }), "+442079460958");
  assert.equal(e164("0113 496 0000", { defaultCountry: "GB" }), "+441134960000");
  assert.equal(e164("06 12 34 56 78", { defaultCountry: "FR" }), "+33612345678");
  assert.equal(e164("06 1234 5678", { defaultCountry: "IT" }), "+390612345678");
  assert.equal(e164("(604) 555-0199", { defaultCountry: "CA" }), "+16045550199");
});

Deno.test("phone: rejects what it cannot read", () => {
  assert.equal(e164(""), "!empty");
  assert.equal(e164("   "), "!empty");
  assert.equal(e164("1-800-FLOWERS"), "!invalid_characters");
  assert.equal(e164("415-555-2671 x12"), "!invalid_characters");
  assert.equal(e164("555-2671"), "!invalid_nanp_number");
  assert.equal(e164("(015) 555-2671"), "!invalid_nanp_number");
  assert.equal(e164("(415) 155-2671"), "!invalid_nanp_number");
  assert.equal(e164("(411) 555-2671"), "!invalid_nanp_number");
  assert.equal(e164("+1234"), "!too_short");
  assert.equal(e164("+1234567890123456"), "!too_long");
  assert.equal(e164("+0 123 456 7890"), "!invalid_country_code");
  assert.equal(e164("41555526711"), "!invalid_nanp_number");
});

Deno.test("phone: numbers a numbering plan does not have are refused (libphonenumber)", () => {
  // Well-formed E.164 both, which the hand-written parser accepted.
  assert.equal(e164("+99912345678"), "!invalid_country_code", "country code 999 is unassigned");
  assert.equal(e164("+33 1234567"), "!too_short", "too short for France");
  assert.equal(e164("+33 1 23 45 67 89"), "+33123456789");
  assert.equal(e164("+1 555 765 4321"), "!invalid_nanp_number", "555 is not an area code");
  assert.equal(e164("+44 20 7946 095"), "!invalid_number", "a London number is 10 digits");
  for (const bad of ["+99912345678", "+331234567", "+15557654321", "+0123", "12125550101"]) {
    assert.equal(describePhone(bad), null, bad);
    assert.equal(isValidPhone(bad), false, bad);
  }
});

Deno.test("phone: the type of a number, as its plan says", () => {
  const type = (n: string) => describePhone(n)?.type;
  assert.deepEqual(describePhone("+12125550101"), {
    e164: "+12125550101",
    country: "US",
    type: "fixed_line_or_mobile",
  });
  assert.equal(type("+33612345678"), "mobile");
  assert.equal(type("+442079460958"), "fixed_line");
  assert.equal(type("+18005550100"), "toll_free");
  assert.deepEqual(describePhone("+80012345678"), {
    e164: "+80012345678",
    country: null,
    type: "toll_free",
  });
  const typed = normalizePhone("06 12 34 56 78", { defaultCountry: "FR" });
  assert.deepEqual(typed, { ok: true, e164: "+33612345678", country: "FR", type: "mobile" });
});

Deno.test("phone: Twilio's test numbers are valid NANP personal numbers (area code 500)", () => {
  for (let n = 1; n <= 9; n++) {
    const magic = `+1500555000${n}`;
    assert.deepEqual(describePhone(magic), { e164: magic, country: "US", type: "personal_number" });
    assert.equal(e164(magic), magic);
  }
});

Deno.test("phone: property — output is always E.164 and normalising twice is stable", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(..."0123456789 +-().x"), maxLength: 20 }),
      (s) => {
        const r = normalizePhone(s);
        if (r.ok) {
          assert.ok(isE164(r.e164), r.e164);
          assert.deepEqual(normalizePhone(r.e164), r);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("phone: area code of +1 numbers only", () => {
  assert.equal(areaCodeOf("+14155552671"), "415");
  assert.equal(areaCodeOf("+442079460958"), null);
  assert.equal(areaCodeOf("+1415"), null);
});

Deno.test("phone: locating a +1 number by its area code", () => {
  assert.deepEqual(locatePhone("+13055550100")?.regions, ["FL"]);
  assert.deepEqual(locatePhone("+18505550100")?.timeZones, lookupAreaCode("850")?.timeZones);
  assert.equal(locatePhone("+18005550100"), null);
  assert.equal(locatePhone("+442079460958"), null);
});
