/**
 * campaigns: verify the user, validate the request, then:
 *
 * - `preview` / `create`: read the audience by group (zone, state, number prefix), decide each
 *   group's release instant, country and frequency cap with the compliance rules (a few hundred
 *   decisions for 100,000 customers, so the function's CPU stays flat), and let
 *   `sms.plan_campaign` check, render, measure and, for `create`, queue every recipient in one
 *   transaction (no per-recipient round trip);
 * - `pause` / `resume` / `cancel`: `sms.control_campaign`, which moves every queued row at once.
 *
 * Every refusal happens before anything is written, or rolls it back.
 *
 * @module
 */
import type { Verifier } from "@shared/runtime/auth.ts";
import { asService } from "@shared/runtime/db.ts";
import { isSmsError, parseError, SmsError } from "@shared/contract/errors.ts";
import { connectedSql, type FunctionDeps, type FunctionHandler } from "@shared/runtime/function.ts";
import { jsonResponse, parseJson, readBody } from "@shared/runtime/http.ts";
import {
  type CampaignControlRequest,
  type CampaignCreateRequest,
  type CampaignPreviewRequest,
  type IneligibleReason,
  ineligibleReasonSchema,
  parseCampaignRequest,
} from "@shared/contract/campaigns.ts";
import { parseTemplate } from "@shared/campaign/template.ts";
import {
  claimKey,
  claimOutcome,
  completeIdempotencyKey,
  type IdempotencyKey,
  requestHash,
} from "@shared/idempotency-store.ts";
import {
  type CampaignSchedule,
  frequencyCapOf,
  localTimeToInstant,
  releaseFor,
} from "@shared/campaign/schedule.ts";
import {
  estimateCost,
  estimateDelivery,
  type PriceTable,
  priceTableFromEnv,
} from "@shared/campaign/estimate.ts";
import { countryOfNumber, countryPermitted } from "@shared/compliance/countries.ts";
import { DEFAULT_MAX_SEGMENTS } from "@shared/contract/message-limits.ts";
import { SMART_ENCODING } from "@shared/text/segments.ts";
import {
  allowedCountries,
  type AudienceArgs,
  audienceGroups,
  controlCampaign,
  type GroupPlan,
  planCampaign,
  type PlanFigures,
  stageCustomerIds,
  storeEstimate,
} from "./store.ts";

/** The deployment's campaign settings, read once from the environment. */
export interface CampaignSettings {
  /** Segments a message may have (`SMS_MAX_SEGMENTS_PER_MESSAGE`, default 2). */
  maxSegments: number;
  /** SMS a business may send per rolling 24 h unless it has its own (`SMS_DAILY_QUOTA`). */
  dailyQuota: number;
  /** The sender's pace (`SMS_MAX_SEGMENTS_PER_SECOND`, default 10), for the delivery estimate. */
  segmentsPerSecond: number;
  /** Price per segment by country and encoding (`SMS_PRICE_PER_SEGMENT`, JSON). */
  prices: PriceTable;
  /** Default life of a campaign after its latest start (`SMS_CAMPAIGN_EXPIRY_HOURS`, 24). */
  expiryHours: number;
}

const positive = (value: string | undefined, fallback: number) => {
  const n = Number(value);
  return value !== undefined && value.trim() !== "" && Number.isFinite(n) &&
      n > 0
    ? n
    : fallback;
};

/** Reads {@link CampaignSettings}; malformed values take their defaults. */
export function campaignSettingsFromEnv(
  env: Record<string, string | undefined>,
): CampaignSettings {
  return {
    maxSegments: Math.floor(
      positive(env.SMS_MAX_SEGMENTS_PER_MESSAGE, DEFAULT_MAX_SEGMENTS),
    ),
    dailyQuota: Math.floor(positive(env.SMS_DAILY_QUOTA, 1000)),
    segmentsPerSecond: positive(env.SMS_MAX_SEGMENTS_PER_SECOND, 10),
    prices: priceTableFromEnv(env.SMS_PRICE_PER_SEGMENT),
    expiryHours: positive(env.SMS_CAMPAIGN_EXPIRY_HOURS, 24),
  };
}

/** Options of {@link createCampaignsHandler}. */
export interface CampaignsHandlerOptions {
  verify: Verifier;
  settings: CampaignSettings;
  /** Largest request body accepted (default 4 MiB: 100,000 customer ids). */
  maxBodyBytes?: number;
}

const HOUR_MS = 3_600_000;
/** Longest a campaign may stay open. */
const MAX_LIFE_MS = 30 * 24 * HOUR_MS;
/** Earliest and latest offsets of any zone, to bound a local schedule's instants. */
const EARLIEST_OFFSET_MS = 14 * HOUR_MS;
const LATEST_OFFSET_MS = 12 * HOUR_MS;

// The refusals of the campaign RPCs (P0001/P0002 with the code as the message).
const REFUSALS: Record<
  string,
  { code: ConstructorParameters<typeof SmsError>[0]; text: string }
> = {
  business_not_found: {
    code: "business_not_found",
    text: "Business not found",
  },
  customer_not_found: {
    code: "customer_not_found",
    text: "Customer not found",
  },
  campaign_not_found: {
    code: "campaign_not_found",
    text: "Campaign not found",
  },
  campaign_state_conflict: {
    code: "campaign_state_conflict",
    text: "The campaign cannot do that now",
  },
  empty_audience: { code: "empty_audience", text: "The audience is empty" },
  quota_exceeded: {
    code: "quota_exceeded",
    text: "The campaign is larger than the quota left",
  },
};

/** The contract error for an RPC refusal, with the database's detail as its message. */
function refusalOf(error: unknown): SmsError | null {
  const e = error as { message?: unknown; code?: unknown; detail?: unknown };
  if (
    !["P0001", "P0002"].includes(String(e?.code)) ||
    typeof e?.message !== "string"
  ) return null;
  const refusal = REFUSALS[e.message];
  if (!refusal) return null;
  const detail = typeof e.detail === "string" && e.detail !== "" ? e.detail : null;
  return new SmsError(
    refusal.code,
    detail ? `${refusal.text}: ${detail}` : refusal.text,
  );
}

interface Window {
  schedule: CampaignSchedule;
  expiresAt: Date;
}

/** The schedule as instants, and its checks: not in the past, within the campaign's life. */
function windowOf(
  request: CampaignPreviewRequest | CampaignCreateRequest,
  now: Date,
  expiryHours: number,
): Window {
  const s = request.schedule;
  let schedule: CampaignSchedule;
  // The earliest and latest instants any recipient's start can be.
  let earliest: number;
  let latest: number;
  if (s.kind === "now") {
    schedule = s;
    earliest = latest = now.getTime();
  } else if (s.kind === "at") {
    const at = new Date(s.at);
    schedule = { kind: "at", at };
    earliest = latest = at.getTime();
  } else {
    let utc: number;
    try {
      utc = localTimeToInstant(s.date, s.time, "UTC").getTime();
    } catch {
      throw new SmsError(
        "invalid_schedule",
        `${s.date} ${s.time} is not a date and time`,
      );
    }
    schedule = s;
    earliest = utc - EARLIEST_OFFSET_MS;
    latest = utc + LATEST_OFFSET_MS;
  }
  // A minute's grace for a clock or a round trip.
  if (latest < now.getTime() - 60_000) {
    throw new SmsError("invalid_schedule", "The schedule is in the past");
  }
  const expiresAt = request.expiresAt
    ? new Date(request.expiresAt)
    : new Date(Math.max(latest, now.getTime()) + expiryHours * HOUR_MS);
  if (expiresAt.getTime() <= Math.max(earliest, now.getTime())) {
    throw new SmsError(
      "invalid_schedule",
      "The campaign expires before it starts",
    );
  }
  if (expiresAt.getTime() > now.getTime() + MAX_LIFE_MS) {
    throw new SmsError(
      "invalid_schedule",
      "A campaign may stay open 30 days at most",
    );
  }
  return { schedule, expiresAt };
}

/** Each group's release, country and cap: the compliance rules, once per group. */
function planGroups(
  groups: Awaited<ReturnType<typeof audienceGroups>>,
  window: Window,
  allowed: readonly string[],
  now: Date,
): GroupPlan[] {
  const out: GroupPlan[] = [];
  for (const g of groups) {
    // A customer without a number is refused per recipient (invalid_phone).
    if (g.prefix === null || g.phone === null) continue;
    const recipient = {
      timeZone: g.time_zone,
      state: g.us_state,
      phone: g.phone,
    };
    const country = countryOfNumber(g.phone);
    const cap = frequencyCapOf(recipient);
    const plan: GroupPlan = {
      time_zone: g.time_zone,
      us_state: g.us_state,
      prefix: g.prefix,
      release_at: null,
      skip: null,
      country,
      cap_max: cap?.max ?? null,
      cap_window_seconds: cap ? Math.ceil(cap.windowMs / 1000) : null,
    };
    if (!countryPermitted(g.phone, allowed)) {
      plan.skip = "country_not_permitted";
    } else {
      const release = releaseFor(recipient, window.schedule, {
        now,
        expiresAt: window.expiresAt,
      });
      if (release.kind === "skip") plan.skip = release.reason;
      else plan.release_at = release.at.toISOString();
    }
    out.push(plan);
  }
  return out;
}

/** The contract's preview answer from the database's figures. */
function previewAnswer(figures: PlanFigures, settings: CampaignSettings) {
  const ineligible = Object.fromEntries(
    ineligibleReasonSchema.options.map((r) => [r, figures.ineligible[r] ?? 0]),
  ) as Record<IneligibleReason, number>;
  const cost = estimateCost(figures.by_country, settings.prices);
  const delivery = estimateDelivery(
    figures.releases.map((r) => ({
      releaseAt: new Date(r.release_at),
      segments: r.segments,
    })),
    settings.segmentsPerSecond,
  );
  return {
    eligible: figures.eligible,
    ineligible,
    segments: figures.segments,
    encodings: {
      "GSM-7": figures.encodings["GSM-7"] ?? 0,
      "UCS-2": figures.encodings["UCS-2"] ?? 0,
    },
    cost,
    firstDeliveryAt: delivery.firstAt?.toISOString() ?? null,
    lastDeliveryAt: delivery.lastAt?.toISOString() ?? null,
    samples: figures.samples.map((s) => ({
      customerId: s.customer_id,
      body: s.body,
      segments: s.segments,
      encoding: s.encoding,
    })),
  };
}

/** Builds the handler from the function's clients. */
export function createCampaignsHandler(
  deps: FunctionDeps,
  options: CampaignsHandlerOptions,
): FunctionHandler {
  const { settings } = options;
  return async (req, log) => {
    const user = await options.verify(req.headers.get("authorization"));
    const input = parseJson(
      await readBody(req, { maxBytes: options.maxBodyBytes ?? 4_194_304 }),
    );
    const parsed = parseCampaignRequest(input);
    if (!parsed.ok) throw parseError(parsed);
    const request = parsed.data;
    const sql = await connectedSql(deps);
    try {
      if (request.action === "preview" || request.action === "create") {
        return await plan(request);
      }
      return await control(request);
    } catch (error) {
      const refusal = isSmsError(error) ? null : refusalOf(error);
      throw refusal ?? error;
    }

    async function control(request: CampaignControlRequest) {
      const result = await asService(
        sql,
        (tx) => controlCampaign(tx, { ...request, userId: user.id }),
      );
      log.info("campaign_control", {
        campaignId: result.campaign_id,
        action: request.action,
        rows: result.rows,
        inFlight: result.in_flight,
      });
      return jsonResponse(200, {
        campaignId: result.campaign_id,
        status: result.status,
        ...(request.action === "cancel" ? { cancelled: result.rows } : {}),
      });
    }

    async function plan(
      request: CampaignPreviewRequest | CampaignCreateRequest,
    ) {
      const template = parseTemplate(request.template);
      if (!template.ok) {
        throw new SmsError(
          "unknown_template_variable",
          `Unknown template variable(s): ${template.unknown.join(", ")}`,
          { details: { unknown: template.unknown } },
        );
      }
      const creating = request.action === "create";
      if (creating && !deps.twilio) {
        throw new SmsError(
          "sms_disabled",
          "SMS is not configured for this project",
        );
      }
      const listed = "customerIds" in request.audience ? request.audience.customerIds : null;
      const audience: AudienceArgs = {
        businessId: request.businessId,
        userId: user.id,
        listed: listed !== null,
        states: "filter" in request.audience ? request.audience.filter.states ?? null : null,
        timeZones: "filter" in request.audience ? request.audience.filter.timeZones ?? null : null,
      };
      const key: IdempotencyKey | null = creating && request.idempotencyKey
        ? {
          businessId: request.businessId,
          key: request.idempotencyKey,
          hash: await requestHash(["campaign", { ...request, idempotencyKey: undefined }]),
          userId: user.id,
        }
        : null;
      const answer = await asService(sql, async (tx) => {
        if (listed) await stageCustomerIds(tx, listed);
        const groups = await audienceGroups(tx, audience);
        if (key) {
          // In the transaction that creates the campaign: a duplicate waits here for the first
          // to commit, then gets its answer, even once the schedule's instant has passed.
          const first = claimOutcome(await claimKey(tx, key), key);
          if (first === "in_progress") {
            // Not expected: a duplicate create waits for the first's commit above, and a send-sms
            // request under the key has another hash (refused by claimOutcome).
            throw new SmsError(
              "idempotency_conflict",
              "This idempotency key was already used for a different request",
            );
          }
          if (first) return { replay: first };
        }
        const now = deps.now();
        const window = windowOf(request, now, settings.expiryHours);
        const allowed = await allowedCountries(tx, request.businessId);
        const figures = await planCampaign(tx, {
          ...audience,
          template: request.template,
          groups: planGroups(groups, window, allowed, now),
          maxSegments: settings.maxSegments,
          defaultQuota: settings.dailyQuota,
          smartEncoding: deps.twilio?.config.smartEncoded ? SMART_ENCODING : null,
          campaign: creating
            ? {
              name: request.name,
              schedule: request.schedule,
              expires_at: window.expiresAt.toISOString(),
              idempotency_key: request.idempotencyKey ?? null,
            }
            : null,
        });
        const preview = previewAnswer(figures, settings);
        if (!figures.campaign_id) return preview;
        await storeEstimate(tx, figures.campaign_id, preview.cost);
        const created = {
          ...preview,
          campaignId: figures.campaign_id,
          status: figures.status!,
        };
        await completeIdempotencyKey(tx, key, { status: 201, body: created });
        return created;
      });
      if ("replay" in answer) {
        log.info("campaign_replayed", { businessId: request.businessId });
        return jsonResponse(answer.replay.status, answer.replay.body);
      }
      log.info(creating ? "campaign_created" : "campaign_previewed", {
        businessId: request.businessId,
        eligible: answer.eligible,
        segments: answer.segments,
        ...("campaignId" in answer ? { campaignId: answer.campaignId } : {}),
      });
      return jsonResponse(creating ? 201 : 200, answer);
    }
  };
}
