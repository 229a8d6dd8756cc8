/**
 * Prices of campaign messages, without I/O: the settings (from the environment), which part of
 * Twilio's Messages list to read, what a run may spend on it, and what a listed message's price
 * is. Twilio reports a price only on the Message resource, some time after the send (up to 24
 * hours, it says), never in a status callback; process-retries reads it back from the list,
 * 1,000 messages a request, because one request per message cannot keep up with a large
 * campaign (docs/decisions.md, "Prices from the list").
 *
 * @module
 */
import { MAX_PAGE_SIZE } from "@shared/twilio/messages.ts";
import { wholeNumber } from "./refresh.ts";

/** Messages per page of the list: Twilio's largest. */
export const PRICE_PAGE_SIZE = MAX_PAGE_SIZE;
/** Default pages one run reads at most (5,000 messages). */
export const DEFAULT_PRICE_PAGES = 5;
/** Largest `PROCESS_RETRIES_PRICE_PAGES` accepted. */
export const MAX_PRICE_PAGES = 10;
/** Default age in sent before a message is looked for (final statuses are looked for at once). */
export const DEFAULT_PRICE_SETTLE_S = 300;
/** Default time before a message Twilio had not priced yet is looked for again. */
export const DEFAULT_PRICE_RECHECK_S = 3_600;
/** Default age past which a message is no longer looked for (Twilio: 24 hours at most). */
export const DEFAULT_PRICE_MAX_AGE_H = 48;
/** Default span of one claim, from its oldest message (see `sms.claim_price_lookups`). */
export const DEFAULT_PRICE_SPAN_S = 60;
/**
 * The CPU plan's rows one page costs: parsing 1,000 resources (about 0.8 MB of JSON) and
 * matching them is budgeted as 10 rows of the queue's work.
 */
export const PRICE_PAGE_CPU_ROWS = 10;
/**
 * How far before a log's `sent_at` Twilio's `date_sent` may be: the log takes the time of the
 * callback (or lookup) that reported the send, which comes after Twilio handed the message on.
 */
export const WINDOW_BEFORE_MS = 15 * 60_000;
/** How far after a log's `sent_at` Twilio's `date_sent` may be (clocks apart). */
export const WINDOW_AFTER_MS = 10_000;

/** Settings of price lookups. */
export interface PricingConfig {
  /** Pages of {@link PRICE_PAGE_SIZE} one run reads at most; 0 turns price lookups off. */
  maxPages: number;
  /** Seconds in sent before a message is looked for. */
  settleS: number;
  /** Seconds before a message not priced yet is looked for again. */
  recheckS: number;
  /** Messages sent longer ago than this (seconds) are no longer looked for. */
  maxAgeS: number;
  /** Seconds from the oldest message of a claim to its newest. */
  spanS: number;
}

const DAY_S = 86_400;

/**
 * Reads `PROCESS_RETRIES_PRICE_PAGES` (pages of 1,000 per run, 0 = off),
 * `PROCESS_RETRIES_PRICE_SETTLE_S`, `PROCESS_RETRIES_PRICE_RECHECK_S`,
 * `PROCESS_RETRIES_PRICE_MAX_AGE_H` and `PROCESS_RETRIES_PRICE_SPAN_S`. A malformed value
 * throws, like the other settings.
 */
export function pricingConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): PricingConfig {
  return {
    maxPages: wholeNumber(
      env.PROCESS_RETRIES_PRICE_PAGES,
      DEFAULT_PRICE_PAGES,
      "PROCESS_RETRIES_PRICE_PAGES",
      { min: 0, max: MAX_PRICE_PAGES },
    ),
    settleS: wholeNumber(
      env.PROCESS_RETRIES_PRICE_SETTLE_S,
      DEFAULT_PRICE_SETTLE_S,
      "PROCESS_RETRIES_PRICE_SETTLE_S",
      { min: 0, max: DAY_S },
    ),
    recheckS: wholeNumber(
      env.PROCESS_RETRIES_PRICE_RECHECK_S,
      DEFAULT_PRICE_RECHECK_S,
      "PROCESS_RETRIES_PRICE_RECHECK_S",
      { min: 60, max: 7 * DAY_S },
    ),
    maxAgeS: 3_600 * wholeNumber(
      env.PROCESS_RETRIES_PRICE_MAX_AGE_H,
      DEFAULT_PRICE_MAX_AGE_H,
      "PROCESS_RETRIES_PRICE_MAX_AGE_H",
      { min: 1, max: 24 * 30 },
    ),
    spanS: wholeNumber(
      env.PROCESS_RETRIES_PRICE_SPAN_S,
      DEFAULT_PRICE_SPAN_S,
      "PROCESS_RETRIES_PRICE_SPAN_S",
      { min: 1, max: DAY_S },
    ),
  };
}

/** Logs to claim for one run: what its pages can hold. */
export function priceClaimLimit(
  config: Pick<PricingConfig, "maxPages">,
): number {
  return config.maxPages * PRICE_PAGE_SIZE;
}

/** Whether a run may read another page: pages, CPU plan and time left. */
export function mayReadPricePage(args: {
  config: Pick<PricingConfig, "maxPages">;
  /** Pages this run already read. */
  read: number;
  /** Rows the run's and the worker's CPU plans still allow. */
  cpuRowsLeft: number;
  canStart: boolean;
}): boolean {
  return args.canStart && args.read < args.config.maxPages &&
    args.cpuRowsLeft >= PRICE_PAGE_CPU_ROWS;
}

/** The `date_sent` window of the list that holds the claimed logs' messages. */
export function priceWindow(
  sentAt: readonly Date[],
): { after: Date; before: Date } {
  if (sentAt.length === 0) throw new Error("no logs to price");
  const times = sentAt.map((d) => d.getTime());
  return {
    after: new Date(Math.min(...times) - WINDOW_BEFORE_MS),
    before: new Date(Math.max(...times) + WINDOW_AFTER_MS),
  };
}

/** A listed message's price, as Twilio wrote it. */
export interface ListedPrice {
  sid: string;
  /** Twilio's decimal string, negative for a charge ("-0.00830"). */
  price: string;
  /** ISO 4217 ("USD"). */
  unit: string;
}

const PRICE = /^-?\d{1,7}(\.\d{1,12})?$/;
const UNIT = /^[A-Z]{3}$/;

/**
 * The priced messages of a page of the list: those whose `price` and `price_unit` are
 * well-formed. A message not priced yet (null) or with anything unexpected is left out, so its
 * log stays unpriced rather than taking a wrong figure.
 */
export function pricesOf(
  page: readonly Record<string, unknown>[],
): ListedPrice[] {
  const out: ListedPrice[] = [];
  for (const m of page) {
    const { sid, price, price_unit: unit } = m;
    if (
      typeof sid !== "string" || typeof price !== "string" ||
      typeof unit !== "string"
    ) continue;
    if (!PRICE.test(price) || !UNIT.test(unit)) continue;
    out.push({ sid, price, unit });
  }
  return out;
}
