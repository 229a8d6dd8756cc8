import assert from "node:assert/strict";
import fc from "fast-check";
import { hostileObjects } from "../support/hostile.ts";
import {
  campaignControlResponseSchema,
  campaignCreateResponseSchema,
  type CampaignPreviewResponse,
  campaignPreviewResponseSchema,
  parseCampaignRequest,
} from "@shared/contract/campaigns.ts";
import { campaigns, type FunctionsClient } from "@shared/contract/client.ts";
import { ERROR_STATUS } from "@shared/contract/errors.ts";
import { errorCodeSchema } from "@shared/contract/schemas.ts";

const BUSINESS = "3f2a1c4e-8b9d-4e2f-a1b3-5c6d7e8f9a0b";
const CUSTOMER = "9b1d0c2e-4f5a-4b6c-8d7e-0f1a2b3c4d5e";
const CAMPAIGN = "0e8c4a2b-6d1f-4e3a-9b5c-7d2e1f0a3b4c";

const preview = {
  action: "preview",
  businessId: BUSINESS,
  template: "Hi {{first_name|there}}, 20% off today!",
  audience: { customerIds: [CUSTOMER] },
  schedule: { kind: "local", date: "2026-06-10", time: "10:00" },
};

Deno.test("campaign contract: valid requests, normalised", () => {
  assert.deepEqual(parseCampaignRequest({ ...preview, template: "  Hi!\n " }), {
    ok: true,
    data: { ...preview, template: "Hi!" },
  });
  const create = {
    ...preview,
    action: "create",
    name: " June promo ",
    businessId: BUSINESS.toUpperCase(),
    audience: { filter: { states: ["NY", "FL"], timeZones: ["America/New_York"] } },
    schedule: { kind: "at", at: "2026-06-10T10:00:00-04:00" },
    expiresAt: "2026-06-11T00:00:00Z",
    idempotencyKey: "k1",
  };
  assert.deepEqual(parseCampaignRequest(create), {
    ok: true,
    data: {
      ...create,
      name: "June promo",
      businessId: BUSINESS,
      audience: {
        filter: { consent: "opted_in", states: ["NY", "FL"], timeZones: ["America/New_York"] },
      },
    },
  });
  assert.deepEqual(parseCampaignRequest({ ...preview, schedule: { kind: "now" } }).ok, true);
  for (const action of ["pause", "resume", "cancel"]) {
    assert.deepEqual(parseCampaignRequest({ action, campaignId: CAMPAIGN, extra: 1 }), {
      ok: true,
      data: { action, campaignId: CAMPAIGN },
    });
  }
});

Deno.test("campaign contract: each invalid field is invalid_request on that field", () => {
  const ids = (n: number) =>
    Array.from({ length: n }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
  const cases: [Record<string, unknown>, string][] = [
    [{ ...preview, action: "launch" }, "action"],
    [{ ...preview, action: undefined }, "action"],
    [{ ...preview, businessId: "b1" }, "businessId"],
    [{ ...preview, name: "" }, "name"],
    [{ ...preview, name: "x".repeat(201) }, "name"],
    [{ ...preview, action: "create" }, "name"],
    [{ ...preview, template: "  " }, "template"],
    [{ ...preview, template: "x".repeat(1601) }, "template"],
    [{ ...preview, template: "a\u0000b" }, "template"],
    [{ ...preview, template: 5 }, "template"],
    [{ ...preview, audience: {} }, "audience"],
    [{ ...preview, audience: { customerIds: [CUSTOMER], filter: {} } }, "audience"],
    [{ ...preview, audience: [] }, "audience"],
    [{ ...preview, audience: { customerIds: [] } }, "audience.customerIds"],
    [{ ...preview, audience: { customerIds: ids(100_001) } }, "audience.customerIds"],
    [
      { ...preview, audience: { customerIds: [CUSTOMER, CUSTOMER.toUpperCase()] } },
      "audience.customerIds",
    ],
    [{ ...preview, audience: { customerIds: [CUSTOMER, "c2"] } }, "audience.customerIds.1"],
    [{ ...preview, audience: { filter: { consent: "any" } } }, "audience.filter.consent"],
    [{ ...preview, audience: { filter: { states: ["ny"] } } }, "audience.filter.states.0"],
    [{ ...preview, audience: { filter: { states: "NY" } } }, "audience.filter.states"],
    [{ ...preview, audience: { filter: { timeZones: [""] } } }, "audience.filter.timeZones.0"],
    [{ ...preview, schedule: undefined }, "schedule"],
    [{ ...preview, schedule: "now" }, "schedule"],
    [{ ...preview, schedule: { kind: "soon" } }, "schedule.kind"],
    [{ ...preview, schedule: { kind: "at", at: "tomorrow" } }, "schedule.at"],
    [{ ...preview, schedule: { kind: "at", at: "2026-06-10T10:00:00" } }, "schedule.at"],
    [
      { ...preview, schedule: { kind: "local", date: "2026-02-30", time: "10:00" } },
      "schedule.date",
    ],
    [
      { ...preview, schedule: { kind: "local", date: "2026-06-10", time: "24:00" } },
      "schedule.time",
    ],
    [
      { ...preview, schedule: { kind: "local", date: "2026-06-10", time: "9:00" } },
      "schedule.time",
    ],
    [{ ...preview, expiresAt: "2026-06-10" }, "expiresAt"],
    [{ ...preview, idempotencyKey: "" }, "idempotencyKey"],
    [{ ...preview, idempotencyKey: "k".repeat(201) }, "idempotencyKey"],
    [{ action: "cancel" }, "campaignId"],
    [{ action: "pause", campaignId: "c" }, "campaignId"],
  ];
  for (const [input, field] of cases) {
    const r = parseCampaignRequest(input);
    assert.ok(!r.ok, field);
    assert.equal(r.code, "invalid_request", field);
    assert.deepEqual(Object.keys(r.fieldErrors), [field], `${field}: ${r.message}`);
  }
  for (const input of [null, [], "x", 5]) {
    const r = parseCampaignRequest(input);
    assert.ok(!r.ok && r.code === "invalid_request" && "(root)" in r.fieldErrors);
  }
});

Deno.test("campaign contract: property — no input makes the parser throw", () => {
  const nasty = fc.oneof(
    fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true }),
    fc.record({
      action: fc.oneof(
        fc.constantFrom("preview", "create", "pause", "resume", "cancel"),
        fc.anything(),
      ),
      businessId: fc.oneof(fc.uuid(), fc.anything()),
      campaignId: fc.oneof(fc.uuid(), fc.anything()),
      template: fc.oneof(fc.string({ unit: "binary", maxLength: 100 }), fc.anything()),
      audience: fc.oneof(
        fc.record({ customerIds: fc.array(fc.oneof(fc.uuid(), fc.anything())) }),
        fc.record({ filter: fc.anything() }),
        fc.anything(),
      ),
      schedule: fc.oneof(
        fc.record({ kind: fc.constantFrom("now", "at", "local"), at: fc.anything() }),
        fc.anything(),
      ),
    }, { requiredKeys: [] }),
  );
  fc.assert(
    fc.property(nasty, (input) => {
      assert.equal(typeof parseCampaignRequest(input).ok, "boolean");
    }),
    { numRuns: 2000 },
  );
});

Deno.test("campaign contract: hostile objects do not throw either", () => {
  for (const input of hostileObjects()) {
    assert.equal(parseCampaignRequest(input).ok, false);
  }
});

Deno.test("campaign contract: new error codes and their statuses", () => {
  assert.equal(ERROR_STATUS.unknown_template_variable, 422);
  assert.equal(ERROR_STATUS.empty_audience, 422);
  assert.equal(ERROR_STATUS.invalid_schedule, 422);
  assert.equal(ERROR_STATUS.campaign_not_found, 404);
  assert.equal(ERROR_STATUS.campaign_state_conflict, 409);
  assert.ok(errorCodeSchema.options.includes("campaign_state_conflict"));
});

const answer: CampaignPreviewResponse = {
  eligible: 2,
  ineligible: {
    no_consent: 1,
    opted_out: 0,
    invalid_phone: 0,
    country_not_permitted: 0,
    frequency_cap: 0,
    too_long: 0,
    no_window_before_expiry: 0,
  },
  segments: 2,
  encodings: { "GSM-7": 2, "UCS-2": 0 },
  cost: { currency: "USD", total: 0.0166, byCountry: { US: 0.0166 } },
  firstDeliveryAt: "2026-06-10T14:00:00.000Z",
  lastDeliveryAt: "2026-06-10T17:00:01.000Z",
  samples: [{ customerId: CUSTOMER, body: "Hi Ann", segments: 1, encoding: "GSM-7" }],
};

Deno.test("campaign contract: answer schemas", () => {
  assert.ok(campaignPreviewResponseSchema.safeParse(answer).success);
  // Every reason is present in `ineligible`.
  const { too_long: _, ...partial } = answer.ineligible;
  assert.ok(!campaignPreviewResponseSchema.safeParse({ ...answer, ineligible: partial }).success);
  const created = { ...answer, campaignId: CAMPAIGN, status: "scheduled" };
  assert.ok(campaignCreateResponseSchema.safeParse(created).success);
  assert.ok(!campaignCreateResponseSchema.safeParse({ ...created, status: "done" }).success);
  assert.ok(
    campaignControlResponseSchema.safeParse({
      campaignId: CAMPAIGN,
      status: "cancelled",
      cancelled: 3,
    }).success,
  );
  assert.ok(
    !campaignControlResponseSchema.safeParse({ campaignId: CAMPAIGN, status: "stopped" }).success,
  );
});

function fakeClient(result: { data: unknown; error: unknown }) {
  const calls: { name: string; body: Record<string, unknown> }[] = [];
  const client: FunctionsClient = {
    functions: {
      invoke(name, options) {
        calls.push({ name, body: options.body });
        return Promise.resolve(result);
      },
    },
  };
  return { client, calls };
}

Deno.test("campaign client: validates, then invokes campaigns; typed answers and errors", async () => {
  const ok = fakeClient({ data: answer, error: null });
  const r = await campaigns(ok.client, {
    action: "preview",
    businessId: BUSINESS,
    template: " Hi {{first_name}} ",
    audience: { filter: {} },
    schedule: { kind: "now" },
  });
  assert.deepEqual(r, { ok: true, data: answer });
  assert.deepEqual(ok.calls, [{
    name: "campaigns",
    body: {
      action: "preview",
      businessId: BUSINESS,
      template: "Hi {{first_name}}",
      audience: { filter: { consent: "opted_in" } },
      schedule: { kind: "now" },
    },
  }]);

  // Refused before any call: a malformed request, an unknown placeholder.
  const none = fakeClient({ data: null, error: new Error("not called") });
  const bad = await campaigns(none.client, { action: "cancel", campaignId: "nope" });
  assert.ok(!bad.ok && bad.error.code === "invalid_request" && bad.error.status === 400);
  const unknown = await campaigns(
    none.client,
    {
      ...preview,
      action: "create",
      name: "x",
      template: "Hi {{firstname}} {{nick|pal}}",
    } as Parameters<typeof campaigns>[1],
  );
  assert.deepEqual(unknown, {
    ok: false,
    error: {
      code: "unknown_template_variable",
      status: 422,
      message: "Unknown template placeholders: {{firstname}}, {{nick}}",
      details: { unknown: ["firstname", "nick"] },
    },
  });
  assert.equal(none.calls.length, 0);

  // The function's error body, as supabase-js hands it over.
  const conflict = new Response(
    JSON.stringify({ error: { code: "campaign_state_conflict", message: "already cancelled" } }),
    { status: 409 },
  );
  const refused = fakeClient({ data: null, error: { context: conflict } });
  assert.deepEqual(await campaigns(refused.client, { action: "resume", campaignId: CAMPAIGN }), {
    ok: false,
    error: { code: "campaign_state_conflict", status: 409, message: "already cancelled" },
  });
  const down = fakeClient({ data: null, error: new Error("fetch failed") });
  assert.deepEqual(await campaigns(down.client, { action: "pause", campaignId: CAMPAIGN }), {
    ok: false,
    error: { code: "internal", status: 0, message: "campaigns could not be reached" },
  });
});
