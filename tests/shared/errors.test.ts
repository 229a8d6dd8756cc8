import assert from "node:assert/strict";
import { errorBody, errorResponse, isSmsError, SmsError } from "@shared/contract/errors.ts";
import { ERROR_STATUS } from "@shared/contract/errors.ts";

Deno.test("errors: every code has its contract status", () => {
  assert.deepEqual(ERROR_STATUS, {
    invalid_request: 400,
    unauthorized: 401,
    forbidden: 403,
    customer_not_found: 404,
    business_not_found: 404,
    no_consent: 409,
    opted_out: 409,
    idempotency_conflict: 409,
    help_contact_missing: 409,
    invalid_phone: 422,
    country_not_permitted: 422,
    message_too_long: 422,
    provider_rejected: 422,
    unknown_template_variable: 422,
    empty_audience: 422,
    invalid_schedule: 422,
    campaign_not_found: 404,
    campaign_state_conflict: 409,
    quota_exceeded: 429,
    sms_disabled: 503,
    internal: 500,
  });
  const e = new SmsError("opted_out", "Customer opted out");
  assert.equal(e.status, 409);
  assert.equal(e.code, "opted_out");
  assert.ok(e instanceof Error);
  assert.ok(isSmsError(e));
  assert.ok(isSmsError({ code: "no_consent", status: 409, message: "x" }));
  assert.equal(isSmsError({ code: "no_consent", status: 500 }), false);
  assert.equal(isSmsError(new Error("x")), false);
});

Deno.test("errors: JSON error responses", async () => {
  const res = errorResponse(new SmsError("invalid_phone", "Phone is invalid"), {
    headers: { "x-request-id": "r1" },
  });
  assert.equal(res.status, 422);
  assert.equal(res.headers.get("x-request-id"), "r1");
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  assert.deepEqual(await res.json(), {
    error: { code: "invalid_phone", message: "Phone is invalid" },
  });

  const hidden = errorResponse(new Error("password=hunter2"));
  assert.equal(hidden.status, 500);
  assert.deepEqual(await hidden.json(), { error: { code: "internal", message: "Internal error" } });
  assert.deepEqual(errorBody("sms_disabled", "off"), {
    error: { code: "sms_disabled", message: "off" },
  });
});

Deno.test("errors: details and field errors travel with the error", async () => {
  const res = errorResponse(
    new SmsError("message_too_long", "too long", { details: { segments: 3 } }),
  );
  assert.deepEqual(await res.json(), {
    error: { code: "message_too_long", message: "too long", details: { segments: 3 } },
  });
  const invalid = errorResponse(
    new SmsError("invalid_request", "bad", { fieldErrors: { customerId: ["must be a uuid"] } }),
  );
  assert.deepEqual((await invalid.json()).error.details, {
    fieldErrors: { customerId: ["must be a uuid"] },
  });
});
