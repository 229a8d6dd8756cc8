import assert from "node:assert/strict";
import { hostileObjects } from "../support/hostile.ts";
import fc from "fast-check";
import {
  createSmsMessageSchema,
  errorBodySchema,
  errorCodeSchema,
  parseSendSmsRequest,
  safeParse,
  sendSmsRequestSchema,
  sendSmsResponseSchema,
  smsMessageSchema,
} from "@shared/contract/schemas.ts";
import { ERROR_STATUS, errorBody, parseError } from "@shared/contract/errors.ts";
import {
  createPhoneInputSchema,
  e164PhoneSchema,
  phoneInputSchema,
} from "@shared/contract/phone.ts";

const CUSTOMER = "3f2a1c4e-8b9d-4e2f-a1b3-5c6d7e8f9a0b";

Deno.test("validation: message body is trimmed, not empty, soft limit 320, hard limit 1600", () => {
  assert.deepEqual(safeParse(smsMessageSchema, "  hello \n"), { ok: true, data: "hello" });
  const empty = safeParse(smsMessageSchema, "   ");
  assert.equal(empty.ok, false);
  assert.equal(safeParse(smsMessageSchema, "a".repeat(320)).ok, true);
  assert.equal(safeParse(smsMessageSchema, "a".repeat(321)).ok, false);
  // Characters are code points: 320 emoji are 640 UTF-16 units but 320 characters.
  assert.equal(safeParse(smsMessageSchema, "😀".repeat(320)).ok, true);
  const wide = createSmsMessageSchema({ maxChars: 5000 });
  assert.equal(safeParse(wide, "a".repeat(1600)).ok, true);
  assert.equal(safeParse(wide, "a".repeat(1601)).ok, false);
  assert.equal(safeParse(wide, "😀".repeat(801)).ok, false, "1602 UTF-16 units");
  assert.equal(safeParse(createSmsMessageSchema({ maxChars: 10 }), "a".repeat(11)).ok, false);
  assert.equal(safeParse(smsMessageSchema, 42).ok, false);
});

Deno.test("validation: send-sms request", () => {
  assert.deepEqual(parseSendSmsRequest({ customerId: CUSTOMER, body: " Hi! ", extra: 1 }), {
    ok: true,
    data: { customerId: CUSTOMER, body: "Hi!" },
  });
  const withKey = parseSendSmsRequest({ customerId: CUSTOMER, body: "x", idempotencyKey: "k1" });
  assert.equal(withKey.ok && withKey.data.idempotencyKey, "k1");
  // Seed-style ids are accepted, like Postgres's uuid type.
  assert.equal(
    parseSendSmsRequest({ customerId: "00000000-0000-0000-0000-000000000001", body: "x" }).ok,
    true,
  );

  const bad = parseSendSmsRequest({ customerId: "nope", body: "" });
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.equal(bad.code, "invalid_request");
    assert.deepEqual(Object.keys(bad.fieldErrors).sort(), ["body", "customerId"]);
    const error = parseError(bad);
    assert.equal(error.status, 400);
    assert.equal(error.code, "invalid_request");
  }

  const long = parseSendSmsRequest({ customerId: CUSTOMER, body: "a".repeat(400) });
  assert.equal(long.ok, false);
  if (!long.ok) {
    assert.equal(long.code, "message_too_long");
    assert.equal(parseError(long).status, 422);
    assert.match(long.message, /at most 320/);
  }
  assert.equal(
    parseSendSmsRequest({ customerId: CUSTOMER, body: "a".repeat(400) }, { maxChars: 500 }).ok,
    true,
  );
  // Too long *and* another error: the request as a whole is invalid.
  const both = parseSendSmsRequest({ customerId: 1, body: "a".repeat(400) });
  assert.equal(!both.ok && both.code, "invalid_request");

  for (const input of [null, undefined, "x", [], 1, { customerId: CUSTOMER }]) {
    const r = parseSendSmsRequest(input);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, "invalid_request");
  }
  assert.equal(
    parseSendSmsRequest({ customerId: CUSTOMER, body: "x", idempotencyKey: "" }).ok,
    false,
  );
});

Deno.test("validation: phone schemas", () => {
  assert.equal(safeParse(e164PhoneSchema, "+14155552671").ok, true);
  assert.equal(safeParse(e164PhoneSchema, "4155552671").ok, false);
  assert.equal(safeParse(e164PhoneSchema, "+0155552671").ok, false);
  assert.deepEqual(safeParse(phoneInputSchema, "(415) 555-2671"), {
    ok: true,
    data: "+14155552671",
  });
  const gb = createPhoneInputSchema({ defaultCountry: "GB" });
  assert.deepEqual(safeParse(gb, "020 7946 0958"), { ok: true, data: "+442079460958" });
  const bad = safeParse(phoneInputSchema, "call me");
  assert.equal(bad.ok, false);
  // Well-formed, but no numbering plan has them (libphonenumber).
  for (const input of ["+99912345678", "+33 1234567", "+1 555 765 4321"]) {
    assert.equal(safeParse(phoneInputSchema, input).ok, false, input);
  }
  for (const input of ["+99912345678", "+331234567", "+15557654321", "+4904000000"]) {
    assert.equal(safeParse(e164PhoneSchema, input).ok, false, input);
  }
  assert.deepEqual(safeParse(e164PhoneSchema, "+4904000000"), {
    ok: false,
    code: "invalid_request",
    message: "must be written +494000000",
    fieldErrors: { "(root)": ["must be written +494000000"] },
  });
  assert.equal(safeParse(e164PhoneSchema, "+15005550006").ok, true, "Twilio's test number");
});

Deno.test("validation: send-sms answers and the error body", () => {
  const ok = (input: unknown) => sendSmsResponseSchema.safeParse(input).success;
  const sent = {
    status: "sent",
    sendLogId: CUSTOMER,
    providerMessageId: "SM" + "a".repeat(32),
    segments: 2,
    encoding: "UCS-2",
  };
  const deferred = {
    status: "deferred",
    sendLogId: CUSTOMER,
    retryId: CUSTOMER,
    reason: "quiet_hours",
    scheduledFor: "2026-12-04T13:00:00.000Z",
  };
  assert.ok(ok(sent));
  assert.ok(ok(deferred));
  assert.equal(ok({ ...sent, status: "deferred" }), false);
  assert.equal(ok({ ...sent, segments: 0 }), false);
  assert.equal(ok({ ...sent, encoding: "UTF-8" }), false);
  assert.equal(ok({ ...deferred, reason: "later" }), false);
  assert.equal(ok({ ...deferred, scheduledFor: "tomorrow" }), false);

  // One enum, ERROR_STATUS's codes, and every error body a function builds fits the schema.
  assert.deepEqual(errorCodeSchema.options, Object.keys(ERROR_STATUS));
  for (const code of errorCodeSchema.options) {
    assert.ok(errorBodySchema.safeParse(errorBody(code, "m", { twilioCode: 1 })).success);
  }
  assert.equal(errorBodySchema.safeParse(errorBody("internal", "m")).success, true);
  assert.equal(
    errorBodySchema.safeParse({ error: { code: "teapot", message: "m" } }).success,
    false,
  );
  assert.equal(errorBodySchema.safeParse({ error: { code: "internal" } }).success, false);
});

const schemas = [
  smsMessageSchema,
  sendSmsRequestSchema,
  e164PhoneSchema,
  phoneInputSchema,
];

Deno.test("validation: property — no input makes a parser throw (4,000 cases)", () => {
  const nasty = fc.oneof(
    fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true }),
    fc.record({
      customerId: fc.oneof(fc.uuid(), fc.anything()),
      body: fc.oneof(fc.string({ unit: "binary", maxLength: 400 }), fc.anything()),
      idempotencyKey: fc.anything(),
    }, { requiredKeys: [] }),
    fc.dictionary(
      fc.constantFrom("MessageSid", "AccountSid", "MessageStatus", "ErrorCode", "Body", "From"),
      fc.oneof(fc.string(), fc.anything()),
    ),
  );
  fc.assert(
    fc.property(nasty, (input) => {
      for (const schema of schemas) {
        const r = safeParse(schema as Parameters<typeof safeParse>[0], input);
        assert.equal(typeof r.ok, "boolean");
      }
      assert.equal(typeof parseSendSmsRequest(input).ok, "boolean");
    }),
    { numRuns: 4000 },
  );
});

Deno.test("validation: hostile objects do not throw either", () => {
  for (const input of hostileObjects()) {
    assert.equal(parseSendSmsRequest(input).ok, false);
  }
});
