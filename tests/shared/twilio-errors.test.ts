import assert from "node:assert/strict";
import fc from "fast-check";
import { classifyTwilioError, retryDelayMs, shouldRetry } from "@shared/twilio/errors.ts";

Deno.test("twilio errors: the issue's table", () => {
  const expectations: [number, string, boolean, string][] = [
    [21610, "opted_out", false, "opted_out"],
    [21211, "invalid_number", false, "invalid_phone"],
    [21614, "invalid_number", false, "invalid_phone"],
    [30005, "invalid_number", false, "invalid_phone"],
    [30006, "landline", false, "invalid_phone"],
    [21635, "landline", false, "invalid_phone"],
    [30003, "unreachable", true, "provider_rejected"],
    [30004, "blocked", false, "provider_rejected"],
    [30007, "content_filtered", false, "provider_rejected"],
    [30008, "provider_unavailable", true, "provider_rejected"],
    [30034, "sender_not_registered", false, "provider_rejected"],
    [30032, "sender_not_registered", false, "provider_rejected"],
    [20429, "rate_limited", true, "provider_rejected"],
    [21612, "unroutable", false, "provider_rejected"],
    [21408, "account_misconfigured", false, "provider_rejected"],
    [21617, "message_too_long", false, "message_too_long"],
  ];
  for (const [code, effect, retryable, errorCode] of expectations) {
    const c = classifyTwilioError({ code });
    assert.equal(c.effect, effect, String(code));
    assert.equal(c.retryable, retryable, String(code));
    assert.equal(c.errorCode, errorCode, String(code));
    assert.equal(c.code, code);
  }
  assert.equal(classifyTwilioError({ code: 30003 }).maxAttempts, 3);
  assert.equal(classifyTwilioError({ code: 30007 }).neverResendBody, true);
  assert.equal(classifyTwilioError({ code: 30034 }).alert, true);
  assert.equal(classifyTwilioError({ code: 30032 }).alert, true);
  assert.equal(classifyTwilioError({ code: "30005" }).effect, "invalid_number");
  assert.equal(classifyTwilioError({ code: 21211 }).phoneStatus, "invalid");
  assert.equal(classifyTwilioError({ code: 30006 }).phoneStatus, "landline");
  assert.equal(classifyTwilioError({ code: 30003 }).phoneStatus, null);
});

Deno.test("twilio errors: HTTP 429, 5xx and network failures retry with backoff", () => {
  const limited = classifyTwilioError({ httpStatus: 429 });
  assert.equal(limited.retryable, true);
  assert.equal(limited.deferReason, "rate_limited");
  assert.equal(classifyTwilioError({ code: 20429, httpStatus: 429 }).deferReason, "rate_limited");
  for (const status of [500, 502, 503, 504]) {
    const c = classifyTwilioError({ httpStatus: status });
    assert.equal(c.retryable, true);
    assert.equal(c.deferReason, "provider_unavailable");
    assert.equal(c.outcomeUncertain, false);
  }
  const network = classifyTwilioError({ network: true });
  assert.equal(network.retryable, true);
  assert.equal(network.outcomeUncertain, true);
  assert.equal(classifyTwilioError({ timeout: true }).outcomeUncertain, true);
});

Deno.test("twilio errors: unknown codes are final and marked unknown", () => {
  const c = classifyTwilioError({ code: 99999, httpStatus: 400 });
  assert.equal(c.retryable, false);
  assert.equal(c.effect, "unknown");
  assert.equal(c.errorCode, "provider_rejected");
  assert.equal(c.deferReason, null);
  assert.equal(classifyTwilioError({}).effect, "unknown");
  assert.equal(classifyTwilioError({ code: "abc", httpStatus: 400 }).code, null);
});

Deno.test("twilio errors: shouldRetry respects maxAttempts", () => {
  const c = classifyTwilioError({ code: 30003 });
  assert.equal(shouldRetry(c, 1), true);
  assert.equal(shouldRetry(c, 2), true);
  assert.equal(shouldRetry(c, 3), false);
  assert.equal(shouldRetry(classifyTwilioError({ code: 21610 }), 0), false);
});

Deno.test("twilio errors: exponential backoff with jitter", () => {
  assert.equal(retryDelayMs(1, { random: () => 0 }), 15_000);
  assert.equal(retryDelayMs(1, { random: () => 0.999999 }), 30_000);
  assert.equal(retryDelayMs(2, { random: () => 0 }), 30_000);
  assert.equal(retryDelayMs(3, { random: () => 0 }), 60_000);
  assert.equal(retryDelayMs(50, { random: () => 0 }), 1_800_000);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.double({ min: 0, max: 0.9999, noNaN: true }),
      (n, r) => {
        const d = retryDelayMs(n, { random: () => r });
        const ceiling = Math.min(3_600_000, 30_000 * 2 ** (n - 1));
        assert.ok(d >= ceiling / 2 - 1 && d <= ceiling, `${n}: ${d}`);
      },
    ),
  );
});
