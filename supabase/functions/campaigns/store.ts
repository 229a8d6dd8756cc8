/**
 * The campaigns function's SQL: the audience's groups, the set-based plan (preview or create)
 * and the control of a campaign (supabase/migrations/20261126000600_campaigns.sql).
 *
 * @module
 */
import type { Db } from "@shared/runtime/db.ts";

/** Customers who share a zone, a state and a number prefix: one release and rule set. */
export interface AudienceGroup {
  time_zone: string | null;
  us_state: string | null;
  prefix: string | null;
  /** One number of the group. */
  phone: string | null;
  recipients: number;
}

/** Who the campaign is for. */
export interface AudienceArgs {
  businessId: string;
  userId: string;
  /** The audience is the customers {@link stageCustomerIds} put in this transaction (else the
   * states and zones below). */
  listed: boolean;
  states: string[] | null;
  timeZones: string[] | null;
}

/**
 * Puts a listed audience in the transaction (a temporary table, dropped at commit) for
 * {@link audienceGroups} and {@link planCampaign}: the list of up to 100,000 ids goes to Postgres
 * once, as one comma-separated text, which Postgres splits. As a `uuid[]` parameter it went
 * twice, and each time postgres.js built a quoted copy of every id and their join (the
 * function's peak memory, and about half a second of its CPU).
 */
export async function stageCustomerIds(db: Db, ids: readonly string[]): Promise<void> {
  await db`
    create temporary table campaign_customer_ids on commit drop as
    select pg_catalog.string_to_array(${ids.join(",")}::text, ',')::uuid[] as ids`;
}

/** The staged list as the RPCs take it, or null for an audience by filter. */
function listedIds(db: Db, a: AudienceArgs) {
  return a.listed ? db`(select s.ids from pg_temp.campaign_customer_ids s)` : db`null`;
}

/** The function's answer for one group, as `sms.plan_campaign` reads it. */
export interface GroupPlan {
  time_zone: string | null;
  us_state: string | null;
  prefix: string;
  release_at: string | null;
  skip: "country_not_permitted" | "no_window_before_expiry" | null;
  country: string | null;
  cap_max: number | null;
  cap_window_seconds: number | null;
}

/** What `sms.plan_campaign` returns. */
export interface PlanFigures {
  audience: number;
  eligible: number;
  ineligible: Record<string, number>;
  segments: number;
  encodings: Record<string, number>;
  by_country: {
    country: string | null;
    encoding: "GSM-7" | "UCS-2";
    segments: number;
  }[];
  releases: { release_at: string; recipients: number; segments: number }[];
  samples: {
    customer_id: string;
    body: string;
    segments: number;
    encoding: "GSM-7" | "UCS-2";
  }[];
  starts_at: string | null;
  ends_at: string | null;
  campaign_id?: string;
  status?: "scheduled" | "running";
}

/** The audience by group (members only: business_not_found otherwise). */
export async function audienceGroups(
  db: Db,
  a: AudienceArgs,
): Promise<AudienceGroup[]> {
  return await db<AudienceGroup[]>`
    select g.time_zone, g.us_state, g.prefix, g.phone, g.recipients
      from sms.campaign_audience_groups(${a.businessId}::uuid, ${a.userId}::uuid,
             ${listedIds(db, a)}::uuid[], ${a.states}::text[], ${a.timeZones}::text[]) g`;
}

/** The business's permitted countries. */
export async function allowedCountries(
  db: Db,
  businessId: string,
): Promise<string[]> {
  const [row] = await db<{ countries: string[] }[]>`
    select b.sms_allowed_countries as countries from public.businesses b
     where b.id = ${businessId}::uuid`;
  return row?.countries ?? [];
}

/** A Smart Encoding table as `sms.plan_campaign` takes it: JSON, which cannot hold U+0000 (and
 * neither can a Postgres text, so that replacement has nothing to do there). */
export function smartEncodingJson(
  table: ReadonlyMap<string, string>,
): Record<string, string> {
  return Object.fromEntries([...table].filter(([key]) => key !== "\u0000"));
}

/** Previews (campaign null) or creates a campaign. */
export async function planCampaign(
  db: Db,
  a: AudienceArgs & {
    template: string;
    groups: GroupPlan[];
    maxSegments: number;
    defaultQuota: number;
    campaign: Record<string, unknown> | null;
    /** Twilio's Smart Encoding table, when the sends ask for it. */
    smartEncoding: ReadonlyMap<string, string> | null;
  },
): Promise<PlanFigures> {
  const smart = a.smartEncoding && smartEncodingJson(a.smartEncoding);
  const [row] = await db<{ figures: PlanFigures }[]>`
    select sms.plan_campaign(
      p_business_id => ${a.businessId}::uuid,
      p_acting_user => ${a.userId}::uuid,
      p_template => ${a.template},
      p_groups => ${db.json(a.groups as never)}::jsonb,
      p_max_segments => ${a.maxSegments}::integer,
      p_default_quota => ${a.defaultQuota}::integer,
      p_customer_ids => ${listedIds(db, a)}::uuid[],
      p_states => ${a.states}::text[],
      p_time_zones => ${a.timeZones}::text[],
      p_campaign => ${a.campaign === null ? null : db.json(a.campaign as never)}::jsonb,
      p_smart_encoding => ${smart ? db.json(smart) : null}::jsonb
    ) as figures`;
  return row.figures;
}

/** Stores the cost estimate of a campaign just created (same transaction). */
export async function storeEstimate(
  db: Db,
  campaignId: string,
  cost: { total: number; currency: string },
): Promise<void> {
  await db`
    update public.sms_campaigns
       set estimated_cost = ${cost.total}::numeric, currency = ${cost.currency}
     where id = ${campaignId}::uuid`;
}

/** What `sms.control_campaign` returns. */
export interface ControlResult {
  campaign_id: string;
  status: "scheduled" | "running" | "paused" | "cancelled";
  rows: number;
  in_flight: number;
}

/** Pauses, resumes or cancels a campaign of the user's business. */
export async function controlCampaign(
  db: Db,
  a: {
    campaignId: string;
    userId: string;
    action: "pause" | "resume" | "cancel";
  },
): Promise<ControlResult> {
  const [row] = await db<{ result: ControlResult }[]>`
    select sms.control_campaign(${a.campaignId}::uuid, ${a.userId}::uuid, ${a.action}) as result`;
  return row.result;
}
