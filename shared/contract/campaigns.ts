/**
 * The campaigns contract: one function, `campaigns` (POST JSON, the user's JWT), whose body's
 * `action` says what to do: `preview` or `create` a campaign, or `pause`, `resume` or `cancel`
 * one. The requests and answers as zod schemas, their types inferred from them, and a parser
 * that never throws (`safeParse`, as for send-sms).
 *
 * The template's placeholders are checked by `parseTemplate` (`../campaign/template.ts`), not
 * here: an unknown one is `unknown_template_variable` (422), not a malformed request.
 *
 * @module
 */

import * as z from "zod/mini";
import type { ParseResult } from "./errors.ts";
import { safeParse } from "./schemas.ts";

// The frontend checks and previews templates with the very rules the function applies.
export {
  customerVariables,
  parseTemplate,
  renderCampaignMessage,
  renderTemplate,
  TEMPLATE_VARIABLES,
  type TemplateParse,
  type TemplateValues,
  type TemplateVariable,
} from "../campaign/template.ts";

/** Most customers a campaign may list by id. */
export const MAX_CAMPAIGN_CUSTOMER_IDS = 100_000;
/** Longest template, in UTF-16 units (Twilio's limit on a body). */
export const MAX_TEMPLATE_LENGTH = 1600;

/** The actions of the campaigns function. */
export const CAMPAIGN_ACTIONS = ["preview", "create", "pause", "resume", "cancel"] as const;
/** An action of the campaigns function. */
export type CampaignAction = (typeof CAMPAIGN_ACTIONS)[number];

const uuid = () =>
  // Lower case, so that one customer listed in two spellings is one (Postgres's uuid agrees).
  z.guid({ error: "must be a uuid" }).check(z.toLowerCase());

const text = (max: number) =>
  z.string({ error: "must be a string" }).check(
    z.trim(),
    z.minLength(1, { error: "must not be empty" }),
    z.maxLength(max, { error: `must be at most ${max} characters` }),
    // Postgres text cannot hold U+0000.
    z.refine((s) => !s.includes("\u0000"), { error: "must not contain NUL characters" }),
  );

const instant = () =>
  z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time with a zone" });

/** When a campaign starts: now, at an instant, or at a wall time in each recipient's zone. */
export const campaignScheduleSchema = /* @__PURE__ */ z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("now") }),
  z.object({ kind: z.literal("at"), at: instant() }),
  z.object({
    kind: z.literal("local"),
    date: z.iso.date({ error: "must be a date, YYYY-MM-DD" }),
    time: z.string({ error: "must be a string" }).check(
      z.regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: "must be a time of day, HH:MM (00:00–23:59)" }),
    ),
  }),
], {
  // One error for the union: a bad `kind` (reported on `schedule.kind`) or no object at all.
  error: (issue) =>
    issue.code === "invalid_union" ? 'must be "now", "at" or "local"' : "must be an object",
});
/** When a campaign starts, as the contract carries it. */
export type CampaignScheduleInput = z.output<typeof campaignScheduleSchema>;

/** Who a campaign's filter selects: consented customers, optionally by state or zone. */
export const audienceFilterSchema = /* @__PURE__ */ z.object({
  consent: z._default(z.literal("opted_in", { error: 'must be "opted_in"' }), "opted_in"),
  states: z.optional(
    z.array(
      z.string({ error: "must be a string" }).check(
        z.regex(/^[A-Z]{2}$/, { error: "must be a two-letter code in upper case" }),
      ),
      { error: "must be an array" },
    ).check(z.maxLength(100, { error: "must have at most 100 entries" })),
  ),
  timeZones: z.optional(
    z.array(text(64), { error: "must be an array" }).check(
      z.maxLength(100, { error: "must have at most 100 entries" }),
    ),
  ),
}, { error: "must be an object" });
/** A campaign's audience filter. */
export type AudienceFilter = z.output<typeof audienceFilterSchema>;

/** A campaign's audience: customers by id, or a filter. */
export type CampaignAudience = { customerIds: string[] } | { filter: AudienceFilter };

// One object with both keys optional, not a union: a union's failure names no field, and the
// user needs to see which id is not a uuid.
const audienceSchema = z.pipe(
  z.object({
    customerIds: z.optional(
      z.array(uuid(), { error: "must be an array of uuids" }).check(
        z.minLength(1, { error: "must not be empty" }),
        z.maxLength(MAX_CAMPAIGN_CUSTOMER_IDS, {
          error: `must have at most ${MAX_CAMPAIGN_CUSTOMER_IDS} ids`,
        }),
        z.refine((ids) => new Set(ids).size === ids.length, { error: "must not repeat an id" }),
      ),
    ),
    filter: z.optional(audienceFilterSchema),
  }, { error: "must be { customerIds } or { filter }" }).check(
    z.refine((a) => (a.customerIds === undefined) !== (a.filter === undefined), {
      error: "must have exactly one of customerIds and filter",
    }),
  ),
  z.transform((a): CampaignAudience =>
    a.customerIds !== undefined ? { customerIds: a.customerIds } : { filter: a.filter! }
  ),
);

const campaignFields = {
  businessId: uuid(),
  template: text(MAX_TEMPLATE_LENGTH),
  audience: audienceSchema,
  schedule: campaignScheduleSchema,
  /** Nothing is sent after it; default: the function's (a day after the start, say). */
  expiresAt: z.optional(instant()),
  idempotencyKey: z.optional(text(200)),
};

/** `preview`: what a campaign would send, to whom, when and at what cost; nothing is stored. */
export const campaignPreviewRequestSchema = /* @__PURE__ */ z.object({
  action: z.literal("preview"),
  name: z.optional(text(200)),
  ...campaignFields,
}, { error: "must be a JSON object" });

/** `create`: the preview's campaign, stored and scheduled. */
export const campaignCreateRequestSchema = /* @__PURE__ */ z.object({
  action: z.literal("create"),
  name: text(200),
  ...campaignFields,
}, { error: "must be a JSON object" });

const control = <A extends "pause" | "resume" | "cancel">(action: A) =>
  z.object({ action: z.literal(action), campaignId: uuid() }, { error: "must be a JSON object" });

/** `pause`, `resume` or `cancel` a campaign. */
export const campaignControlRequestSchema = /* @__PURE__ */ z.discriminatedUnion("action", [
  control("pause"),
  control("resume"),
  control("cancel"),
]);

/** Any request of the campaigns function, told apart by `action`. */
export const campaignRequestSchema = /* @__PURE__ */ z.discriminatedUnion("action", [
  campaignPreviewRequestSchema,
  campaignCreateRequestSchema,
  control("pause"),
  control("resume"),
  control("cancel"),
]);
/** A campaigns request, as {@link parseCampaignRequest} outputs it. */
export type CampaignRequest = z.output<typeof campaignRequestSchema>;
/** A campaigns request, as a caller writes it (`filter.consent` may be left out). */
export type CampaignRequestInput = z.input<typeof campaignRequestSchema>;
/** A `preview` request. */
export type CampaignPreviewRequest = z.output<typeof campaignPreviewRequestSchema>;
/** A `create` request. */
export type CampaignCreateRequest = z.output<typeof campaignCreateRequestSchema>;
/** A `pause`, `resume` or `cancel` request. */
export type CampaignControlRequest = z.output<typeof campaignControlRequestSchema>;

const actionSchema = /* @__PURE__ */ z.object({
  action: z.enum(CAMPAIGN_ACTIONS, { error: `must be one of ${CAMPAIGN_ACTIONS.join(", ")}` }),
}, { error: "must be a JSON object" });

/** Parses a campaigns request body (already JSON-decoded); never throws. */
export function parseCampaignRequest(input: unknown): ParseResult<CampaignRequest> {
  // The action first, so that a wrong one is reported on `action`, not on the whole body.
  const action = safeParse(actionSchema, input);
  if (!action.ok) return action;
  return safeParse(campaignRequestSchema, input);
}

/** Why a customer of the audience gets no message. */
export const ineligibleReasonSchema = /* @__PURE__ */ z.enum([
  "no_consent",
  "opted_out",
  "invalid_phone",
  "country_not_permitted",
  "frequency_cap",
  "too_long",
  "no_window_before_expiry",
]);
/** Why a customer of the audience gets no message. */
export type IneligibleReason = z.output<typeof ineligibleReasonSchema>;

/** The statuses of a campaign. */
export const campaignStatusSchema = /* @__PURE__ */ z.enum([
  "scheduled",
  "running",
  "paused",
  "cancelled",
  "done",
]);
/** The status of a campaign. */
export type CampaignStatus = z.output<typeof campaignStatusSchema>;

const count = () => z.int().check(z.nonnegative());
const encodingSchema = z.enum(["GSM-7", "UCS-2"]);

const previewFields = {
  /** Customers who get a message. */
  eligible: count(),
  /** Customers who do not, by reason (every reason present, 0 included). */
  ineligible: z.record(ineligibleReasonSchema, count()),
  /** Segments of all the eligible customers' messages. */
  segments: count(),
  /** Messages by encoding. */
  encodings: z.object({ "GSM-7": count(), "UCS-2": count() }),
  cost: z.object({
    currency: z.literal("USD"),
    total: z.number().check(z.nonnegative()),
    /** By ISO 3166-1 country; `unknown` for numbers without one. */
    byCountry: z.record(z.string(), z.number().check(z.nonnegative())),
  }),
  /** ISO 8601 instants; `null` when no one is eligible. */
  firstDeliveryAt: z.nullable(z.iso.datetime({ offset: true })),
  lastDeliveryAt: z.nullable(z.iso.datetime({ offset: true })),
  /** A few rendered messages, as their recipients would get them. */
  samples: z.array(z.object({
    customerId: z.guid(),
    body: z.string(),
    segments: z.int().check(z.positive()),
    encoding: encodingSchema,
  })),
};

/** Answer of `preview`. */
export const campaignPreviewResponseSchema = /* @__PURE__ */ z.object(previewFields);
/** Answer of `preview`. */
export type CampaignPreviewResponse = z.output<typeof campaignPreviewResponseSchema>;

/** Answer of `create`: the preview's figures, and the campaign. */
export const campaignCreateResponseSchema = /* @__PURE__ */ z.object({
  ...previewFields,
  campaignId: z.guid(),
  status: z.enum(["scheduled", "running"]),
});
/** Answer of `create`. */
export type CampaignCreateResponse = z.output<typeof campaignCreateResponseSchema>;

/** Answer of `pause`, `resume` and `cancel`. */
export const campaignControlResponseSchema = /* @__PURE__ */ z.object({
  campaignId: z.guid(),
  status: campaignStatusSchema,
  /** `cancel`: the messages that will not be sent. */
  cancelled: z.optional(count()),
});
/** Answer of `pause`, `resume` and `cancel`. */
export type CampaignControlResponse = z.output<typeof campaignControlResponseSchema>;

/** The answer type of an action. */
export type CampaignResponseFor<A extends CampaignAction> = A extends "preview"
  ? CampaignPreviewResponse
  : A extends "create" ? CampaignCreateResponse
  : CampaignControlResponse;
