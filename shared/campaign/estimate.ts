/**
 * What a campaign preview promises: when its messages should be delivered, given the release
 * times of its groups and the sender's throughput, and what they should cost.
 *
 * @module
 */

import type { SmsEncoding } from "../text/segments.ts";

/** A group of messages released together. */
export interface DeliveryGroup {
  releaseAt: Date;
  /** Segments of all the group's messages. */
  segments: number;
}

/** When the first message can go and the last should be handed over (`null` for no groups). */
export interface DeliveryEstimate {
  firstAt: Date | null;
  lastAt: Date | null;
}

/**
 * Drains the groups in release order at `segmentsPerSecond`: the sender is idle until a group's
 * release, then busy for its segments; the last instant is rounded up to the millisecond, so an
 * estimate is never early.
 */
export function estimateDelivery(
  groups: readonly DeliveryGroup[],
  segmentsPerSecond: number,
): DeliveryEstimate {
  if (!(segmentsPerSecond > 0) || !Number.isFinite(segmentsPerSecond)) {
    throw new RangeError(`segmentsPerSecond must be a positive number (got ${segmentsPerSecond})`);
  }
  if (groups.length === 0) return { firstAt: null, lastAt: null };
  const sorted = [...groups].sort((a, b) => a.releaseAt.getTime() - b.releaseAt.getTime());
  let t = -Infinity;
  for (const g of sorted) {
    t = Math.max(t, g.releaseAt.getTime()) + (Math.max(0, g.segments) / segmentsPerSecond) * 1000;
  }
  return { firstAt: new Date(sorted[0].releaseAt.getTime()), lastAt: new Date(Math.ceil(t)) };
}

/** Price of one segment, by encoding, in USD. */
export type SegmentPrices = Readonly<Record<SmsEncoding, number>>;

/** Prices by ISO 3166-1 country, and `default` for any other (or unknown) country. */
export type PriceTable = Readonly<Record<string, SegmentPrices>> & {
  readonly default: SegmentPrices;
};

const flat = (usd: number): SegmentPrices => ({ "GSM-7": usd, "UCS-2": usd });

/**
 * Prices to use until the deployment configures its own (`SMS_PRICE_TABLE`, JSON of the same
 * shape): Twilio's list price per segment for a US long code when this was written, applied to
 * the US, its territories and Canada, and a rough 0.05 elsewhere. Not authoritative: carrier
 * fees, volume discounts and short codes change them.
 */
export const DEFAULT_PRICE_TABLE: PriceTable = Object.freeze({
  US: flat(0.0083),
  PR: flat(0.0083),
  VI: flat(0.0083),
  GU: flat(0.0083),
  AS: flat(0.0083),
  MP: flat(0.0083),
  CA: flat(0.0083),
  default: flat(0.05),
});

function pricesOf(value: unknown): SegmentPrices | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const row = value as Record<string, unknown>;
  const gsm = row["GSM-7"];
  const ucs = row["UCS-2"];
  const ok = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n) && n >= 0;
  return ok(gsm) && ok(ucs) ? { "GSM-7": gsm, "UCS-2": ucs } : null;
}

/**
 * The price table a setting gives: JSON mapping two-letter country codes (any case) and
 * `default` to `{"GSM-7": usd, "UCS-2": usd}`. Unset, or anything malformed (a key, a row, a
 * price that is not a finite non-negative number), gives {@link DEFAULT_PRICE_TABLE}: a typo must
 * not price a campaign at zero. A table without `default` takes the built-in one.
 */
export function priceTableFromEnv(value: string | undefined): PriceTable {
  if (value === undefined || value.trim() === "") return DEFAULT_PRICE_TABLE;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return DEFAULT_PRICE_TABLE;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return DEFAULT_PRICE_TABLE;
  }
  const table: Record<string, SegmentPrices> = { default: DEFAULT_PRICE_TABLE.default };
  for (const [key, row] of Object.entries(parsed)) {
    const prices = pricesOf(row);
    const name = key === "default" ? key : key.toUpperCase();
    if (!prices || (name !== "default" && !/^[A-Z]{2}$/.test(name))) return DEFAULT_PRICE_TABLE;
    table[name] = prices;
  }
  return Object.freeze(table) as PriceTable;
}

/** Messages of one country and encoding. */
export interface CostRow {
  /** ISO 3166-1 country of the numbers; `null` when unknown (priced at `default`). */
  country: string | null;
  encoding: SmsEncoding;
  segments: number;
}

/** A campaign's estimated cost, in USD rounded to 4 decimals. */
export interface CostEstimate {
  currency: "USD";
  total: number;
  /** By country; unknown countries under `unknown`. */
  byCountry: Record<string, number>;
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

/** Prices each row at its country's rate (else `default`); the total is rounded once. */
export function estimateCost(rows: readonly CostRow[], table: PriceTable): CostEstimate {
  const sums = new Map<string, number>();
  let total = 0;
  for (const row of rows) {
    const country = row.country?.toUpperCase() ?? null;
    const prices = country !== null && Object.hasOwn(table, country)
      ? table[country]
      : table.default;
    const cost = prices[row.encoding] * Math.max(0, row.segments);
    const key = country ?? "unknown";
    sums.set(key, (sums.get(key) ?? 0) + cost);
    total += cost;
  }
  const byCountry: Record<string, number> = {};
  for (const [key, sum] of sums) byCountry[key] = round4(sum);
  return { currency: "USD", total: round4(total), byCountry };
}
