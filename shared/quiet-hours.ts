/**
 * Quiet hours: may a message go to this recipient at this instant, and if not, when?
 *
 * Layers, all in the recipient's local time and all of which must be open:
 * - federal: 8:00–21:00 (47 CFR § 64.1200(c)(1));
 * - the stricter state rules of {@link STATE_RULES};
 * - optionally the business's own window.
 *
 * Where the recipient's zone or state is not on the customer record, every candidate (from the
 * state, else the area code, else a US-wide fallback) is considered and only the intersection of
 * their windows is allowed. Local times are converted with the runtime's zone data (Temporal, else
 * `Intl.DateTimeFormat`), so windows follow DST.
 *
 * @module
 */

import { listAreaCodes, locatePhone } from "./phone.ts";
import type { QuietHoursReason, QuietHoursResult } from "./types.ts";

export type { QuietHoursReason, QuietHoursResult } from "./types.ts";

/** A daily window in local minutes since midnight, `[start, end)`. */
export interface DailyWindow {
  start: number;
  end: number;
}

/** Windows by weekday, Sunday = 0; `null` means no messages that day. */
export type WeeklyWindows = readonly [
  DailyWindow | null,
  DailyWindow | null,
  DailyWindow | null,
  DailyWindow | null,
  DailyWindow | null,
  DailyWindow | null,
  DailyWindow | null,
];

/** A stricter state rule, with where it comes from. */
export interface StateRule {
  /** USPS code of the state. */
  region: string;
  /** Allowed windows by weekday (local time). */
  windows: WeeklyWindows;
  /** At most `max` messages to one recipient per rolling `windowHours`. */
  frequencyCap?: { max: number; windowHours: number };
  /** Statute or regulation. */
  source: string;
  /** Scope notes (what the statute covers, effective date). */
  note?: string;
}

function hm(text: string): number {
  const [h, m] = text.split(":").map(Number);
  return h * 60 + m;
}

function daily(start: string, end: string): DailyWindow {
  return { start: hm(start), end: hm(end) };
}

function everyDay(window: DailyWindow): WeeklyWindows {
  return [window, window, window, window, window, window, window];
}

/** The federal window, every day: 8:00–21:00 local. */
export const FEDERAL_WINDOW: DailyWindow = daily("08:00", "21:00");
/** Source of {@link FEDERAL_WINDOW}. */
export const FEDERAL_SOURCE = "47 U.S.C. § 227(c); 47 CFR § 64.1200(c)(1)";

/**
 * States whose rules are stricter than the federal window. These statutes govern telephone
 * solicitations (and, as amended or construed, text messages); they are applied to every message
 * because the safe reading of a review request or campaign is "marketing". State holidays, where
 * statutes also close the window, are not modelled.
 */
export const STATE_RULES: readonly StateRule[] = [
  {
    region: "FL",
    windows: everyDay(daily("08:00", "20:00")),
    frequencyCap: { max: 3, windowHours: 24 },
    source: "Fla. Stat. § 501.059(8) (Florida Telephone Solicitation Act, as amended by " +
      "SB 1120 (2021)); Fla. Stat. § 501.616(6)",
    note: "At most 3 calls or texts on the same subject within 24 hours.",
  },
  {
    region: "OK",
    windows: everyDay(daily("08:00", "20:00")),
    frequencyCap: { max: 3, windowHours: 24 },
    source: "Okla. Stat. tit. 15, § 775C.4 (Telephone Solicitation Act of 2022)",
    note: "At most 3 calls or texts on the same subject within 24 hours.",
  },
  {
    region: "MD",
    windows: everyDay(daily("08:00", "20:00")),
    frequencyCap: { max: 3, windowHours: 24 },
    source: "Md. Code, Com. Law § 14-4503 (Stop the Spam Calls Act of 2023, in force 2024-01-01)",
    note: "At most 3 calls or texts on the same subject within 24 hours.",
  },
  {
    region: "TX",
    windows: [
      daily("12:00", "21:00"),
      daily("09:00", "21:00"),
      daily("09:00", "21:00"),
      daily("09:00", "21:00"),
      daily("09:00", "21:00"),
      daily("09:00", "21:00"),
      daily("09:00", "21:00"),
    ],
    source: "Tex. Bus. & Com. Code § 301.051; texts covered by SB 140 (89th Leg., " +
      "in force 2025-09-01)",
    note: "Sunday 12:00–21:00, other days 9:00–21:00.",
  },
  {
    region: "CT",
    windows: everyDay(daily("09:00", "20:00")),
    source: "Conn. Gen. Stat. § 42-288a, as amended by Public Act 23-98 (in force 2023-10-01)",
  },
  {
    region: "RI",
    windows: [
      null,
      daily("09:00", "18:00"),
      daily("09:00", "18:00"),
      daily("09:00", "18:00"),
      daily("09:00", "18:00"),
      daily("09:00", "18:00"),
      daily("10:00", "17:00"),
    ],
    source: 'R.I. Gen. Laws §§ 5-61-2(2) ("hours of operation"), 5-61-3.6',
    note: "Weekdays 9:00–18:00, Saturday 10:00–17:00, no Sunday; holidays also closed.",
  },
  {
    region: "MS",
    windows: [
      null,
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
    ],
    source: "Miss. Code Ann. § 77-3-725 (Mississippi Telephone Solicitation Act)",
    note: "8:00–20:00, no Sunday.",
  },
  {
    region: "WA",
    windows: everyDay(daily("08:00", "20:00")),
    source: "Rev. Code Wash. § 80.36.390(2)",
  },
];

/** A business's own sending window, stricter than the law. */
export interface BusinessWindow {
  /** "HH:MM", inclusive. */
  start: string;
  /** "HH:MM", exclusive ("24:00" for midnight). */
  end: string;
  /** Weekdays on which the business sends (Sunday = 0); default every day. */
  days?: readonly number[];
  /** Evaluate in this zone (e.g. the business's own); default: the recipient's zone(s). */
  timeZone?: string;
}

/** What is known about the recipient. */
export interface QuietHoursRecipient {
  /** IANA zone from the customer record. */
  timeZone?: string | null;
  /** US state or Canadian province code from the customer record. */
  state?: string | null;
  /** E.164 phone; its area code is the fallback for zone and state. */
  phone?: string | null;
}

/** Options of {@link checkQuietHours} and {@link frequencyCapFor}. */
export interface QuietHoursOptions {
  /** The business's own window, applied on top of the law. */
  businessWindow?: BusinessWindow | null;
  /** Replaces {@link STATE_RULES} (tests, or a table loaded from the database). */
  stateRules?: readonly StateRule[];
  /** Zones assumed when neither the record nor the area code gives one. */
  fallbackTimeZones?: readonly string[];
}

/** Zones assumed for a recipient about whom nothing is known: the US from Eastern to Hawaii. */
export const DEFAULT_FALLBACK_TIME_ZONES: readonly string[] = [
  "America/New_York",
  "America/Chicago",
  "America/Denver",
  "America/Phoenix",
  "America/Los_Angeles",
  "America/Anchorage",
  "Pacific/Honolulu",
];

/** Every zone any area code of a state or province uses, derived from the area code table. */
const REGION_TIME_ZONES: ReadonlyMap<string, readonly string[]> = (() => {
  const map = new Map<string, string[]>();
  for (const info of listAreaCodes()) {
    for (const region of info.regions) {
      const zones = map.get(region) ?? [];
      for (const zone of info.timeZones) if (!zones.includes(zone)) zones.push(zone);
      map.set(region, zones);
    }
  }
  return map;
})();

const validZones = new Map<string, boolean>();

/** Whether a string is an IANA zone this runtime knows. */
export function isValidTimeZone(zone: string): boolean {
  let valid = validZones.get(zone);
  if (valid === undefined) {
    try {
      offsetOf(zone);
      valid = zone.length > 0;
    } catch {
      valid = false;
    }
    validZones.set(zone, valid);
  }
  return valid;
}

/** Candidate zones and regions for a recipient, and whether they are certain. */
export interface RecipientCandidates {
  timeZones: string[];
  regions: string[];
  uncertain: boolean;
}

/**
 * Resolves the candidates quiet hours consider. Zone: the record's, else every zone of the
 * record's state, else the area code's, else the fallback. Region: the record's, else the area
 * code's; a +1 number with an unknown area code (or no phone at all) could be in any state, so
 * every state with a rule is a candidate. Numbers outside +1 get no US state rules.
 */
export function resolveCandidates(
  recipient: QuietHoursRecipient,
  options: QuietHoursOptions = {},
): RecipientCandidates {
  const rules = options.stateRules ?? STATE_RULES;
  const phone = recipient.phone ?? null;
  const located = phone ? locatePhone(phone) : null;
  const state = recipient.state?.trim().toUpperCase() || null;
  const zone = recipient.timeZone?.trim() || null;

  let regions: string[];
  if (state) regions = [state];
  else if (located) regions = located.regions;
  else if (phone && !phone.startsWith("+1")) regions = [];
  else regions = [...new Set(rules.map((r) => r.region))];

  const zoneFromRecord = zone !== null && isValidTimeZone(zone);
  let timeZones: string[];
  if (zoneFromRecord) timeZones = [zone];
  else if (state && REGION_TIME_ZONES.has(state)) timeZones = [...REGION_TIME_ZONES.get(state)!];
  else if (located) timeZones = located.timeZones;
  else timeZones = [...(options.fallbackTimeZones ?? DEFAULT_FALLBACK_TIME_ZONES)];

  // A number outside +1 has no state to be unsure about.
  const stateKnown = state !== null || (phone !== null && !phone.startsWith("+1") && !located);
  return { timeZones, regions, uncertain: !(zoneFromRecord && stateKnown) };
}

type Layer = "federal" | "state" | "business";

interface Constraint {
  zone: string;
  /** Per weekday: the open window, or null. */
  windows: readonly (DailyWindow | null)[];
  /** Which layer closes each weekday's window at each edge, for the `reason`. */
  layers: { layer: Layer; windows: readonly (DailyWindow | null)[] }[];
}

function intersectDaily(a: DailyWindow | null, b: DailyWindow | null): DailyWindow | null {
  if (!a || !b) return null;
  const start = Math.max(a.start, b.start);
  const end = Math.min(a.end, b.end);
  return start < end ? { start, end } : null;
}

function businessWeekly(window: BusinessWindow): (DailyWindow | null)[] {
  const start = parseClock(window.start);
  const end = parseClock(window.end);
  const days = window.days ?? [0, 1, 2, 3, 4, 5, 6];
  return [0, 1, 2, 3, 4, 5, 6].map((d) => days.includes(d) && start < end ? { start, end } : null);
}

function parseClock(text: string): number {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!match) throw new RangeError(`invalid time of day ${JSON.stringify(text)}`);
  const minutes = Number(match[1]) * 60 + Number(match[2]);
  if (Number(match[2]) > 59 || minutes > 24 * 60) {
    throw new RangeError(`invalid time of day ${JSON.stringify(text)}`);
  }
  return minutes;
}

function buildConstraints(
  candidates: RecipientCandidates,
  options: QuietHoursOptions,
): Constraint[] {
  const rules = (options.stateRules ?? STATE_RULES).filter((r) =>
    candidates.regions.includes(r.region)
  );
  const business = options.businessWindow ? businessWeekly(options.businessWindow) : null;
  const businessZone = options.businessWindow?.timeZone;
  if (businessZone !== undefined && !isValidTimeZone(businessZone)) {
    throw new RangeError(`invalid business time zone ${JSON.stringify(businessZone)}`);
  }
  const constraints: Constraint[] = [];
  for (const zone of candidates.timeZones) {
    const layers: Constraint["layers"] = [
      { layer: "federal", windows: everyDay(FEDERAL_WINDOW) },
      ...rules.map((r) => ({ layer: "state" as const, windows: r.windows })),
    ];
    if (business && !businessZone) layers.push({ layer: "business", windows: business });
    const windows = [0, 1, 2, 3, 4, 5, 6].map((d) =>
      layers.reduce<DailyWindow | null>(
        (acc, l) => intersectDaily(acc, l.windows[d]),
        { start: 0, end: 24 * 60 },
      )
    );
    constraints.push({ zone, windows, layers });
  }
  if (business && businessZone) {
    constraints.push({
      zone: businessZone,
      windows: business,
      layers: [{ layer: "business", windows: business }],
    });
  }
  return constraints;
}

type Interval = [number, number];

const DAY_MS = 86_400_000;
/** Days scanned ahead for the next window; the longest closure modelled is under two days. */
const HORIZON_DAYS = 8;

/** A zone's offset from UTC, in ms, at an instant (ms since the epoch). */
type OffsetAt = (ms: number) => number;

interface TemporalApi {
  Instant: {
    fromEpochMilliseconds(ms: number): {
      toZonedDateTimeISO(zone: string): { offsetNanoseconds: number };
    };
  };
}
const temporal = (globalThis as { Temporal?: TemporalApi }).Temporal;

// Offsets come from Temporal where the runtime has it: the first Intl.DateTimeFormat of a process
// costs ~25 ms of ICU set-up (cold start), Temporal ~1 ms. Both agree on every offset; a few
// ICU-only ids ("Factory") and runtimes without Temporal use Intl.
const OFFSETS = new Map<string, OffsetAt>();
const MAX_ZONES = 64;

/** The offset function of `zone`, cached; throws a RangeError for a zone the runtime lacks. */
function offsetOf(zone: string): OffsetAt {
  let at = OFFSETS.get(zone);
  if (!at) {
    at = temporalOffset(zone) ?? intlOffset(zone);
    if (OFFSETS.size >= MAX_ZONES) OFFSETS.delete(OFFSETS.keys().next().value!);
    OFFSETS.set(zone, at);
  }
  return at;
}

function temporalOffset(zone: string): OffsetAt | null {
  if (!temporal) return null;
  const { Instant } = temporal;
  const at = (ms: number) =>
    Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(zone).offsetNanoseconds / 1e6;
  try {
    at(0);
    return at;
  } catch {
    return null;
  }
}

/** Offsets read from the wall clock Intl shows (to the second) against the instant. */
function intlOffset(zone: string): OffsetAt {
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
  return (ms) => {
    let year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
    for (const part of format.formatToParts(ms)) {
      const n = Number(part.value);
      switch (part.type) {
        case "year":
          year = n;
          break;
        case "month":
          month = n;
          break;
        case "day":
          day = n;
          break;
        case "hour":
          hour = n % 24;
          break;
        case "minute":
          minute = n;
          break;
        case "second":
          second = n;
      }
    }
    return Date.UTC(year, month - 1, day, hour, minute, second) -
      (ms - (((ms % 1000) + 1000) % 1000));
  };
}

/**
 * The instant a wall time (given as if it were UTC) occurs in `zone`, resolved as date-fns-tz's
 * `fromZonedTime` did in a UTC process: the offset in force at the wall time read as UTC,
 * corrected once or twice. A time repeated by a fall-back (an overlap) thus gets its first
 * occurrence in zones west of Greenwich; a time skipped by a spring-forward (a gap) gets the
 * later offset, so 02:30 on a US spring-forward night is 01:30 standard time.
 */
function wallToInstant(wall: number, zone: string): number {
  const offsetAt = offsetOf(zone);
  const guess = offsetAt(wall);
  const second = offsetAt(wall - guess);
  if (second === guess) return wall - guess;
  const third = offsetAt(wall - second);
  return wall - (second === third ? second : Math.max(second, third));
}

/** The local day (its midnight as if UTC), weekday and minute of the day of `instant`. */
function localParts(
  instant: Date,
  zone: string,
): { day: number; weekday: number; minute: number } {
  const ms = instant.getTime();
  const wall = ms + offsetOf(zone)(ms);
  const sinceMidnight = ((wall % DAY_MS) + DAY_MS) % DAY_MS;
  const day = wall - sinceMidnight;
  return { day, weekday: new Date(day).getUTCDay(), minute: Math.floor(sinceMidnight / 60_000) };
}

function intervalsOf(constraint: Constraint, now: Date): Interval[] {
  const { day: today } = localParts(now, constraint.zone);
  const out: Interval[] = [];
  for (let offset = -1; offset <= HORIZON_DAYS; offset++) {
    const day = today + offset * DAY_MS;
    const window = constraint.windows[new Date(day).getUTCDay()];
    if (!window) continue;
    const start = wallToInstant(day + window.start * 60_000, constraint.zone);
    const end = wallToInstant(day + window.end * 60_000, constraint.zone);
    if (start < end) out.push([start, end]);
  }
  return out;
}

function intersect(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = Math.max(a[i][0], b[j][0]);
    const end = Math.min(a[i][1], b[j][1]);
    if (start < end) out.push([start, end]);
    if (a[i][1] < b[j][1]) i++;
    else j++;
  }
  return out;
}

function merge(intervals: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const interval of intervals) {
    const last = out[out.length - 1];
    if (last && interval[0] <= last[1]) last[1] = Math.max(last[1], interval[1]);
    else out.push([interval[0], interval[1]]);
  }
  return out;
}

function isOpen(window: DailyWindow | null, minute: number): boolean {
  return window !== null && minute >= window.start && minute < window.end;
}

// The first layer (federal, then state, then business) that is closed now in some zone.
function closingLayer(constraints: Constraint[], now: Date): QuietHoursReason | null {
  const closed = new Set<Layer>();
  for (const c of constraints) {
    const { weekday, minute } = localParts(now, c.zone);
    for (const l of c.layers) if (!isOpen(l.windows[weekday], minute)) closed.add(l.layer);
  }
  if (closed.has("federal")) return "federal_quiet_hours";
  if (closed.has("state")) return "state_quiet_hours";
  if (closed.has("business")) return "business_hours";
  return null;
}

/**
 * Whether a message may be sent to the recipient at `now`, and the window around it.
 *
 * Allowed: `windowEndsAt` is when the current window closes and `nextAllowedAt` is `now`. Not
 * allowed: `nextAllowedAt` is the next instant every layer in every candidate zone is open
 * (`null` if there is none within a week), and `reason` names the strictest layer closed now.
 *
 * @example
 * ```ts
 * checkQuietHours({ phone: "+13055550100" }, new Date("2026-07-01T00:30:00Z"));
 * // Miami, 20:30 EDT: federal allows it, Florida (8:00–20:00) does not:
 * // { allowed: false, reason: "state_quiet_hours", nextAllowedAt: 2026-07-01T12:00:00Z, … }
 * ```
 */
export function checkQuietHours(
  recipient: QuietHoursRecipient,
  now: Date,
  options: QuietHoursOptions = {},
): QuietHoursResult {
  const candidates = resolveCandidates(recipient, options);
  const constraints = buildConstraints(candidates, options);
  let open: Interval[] | null = null;
  for (const c of constraints) {
    const intervals = intervalsOf(c, now);
    open = open === null ? intervals : intersect(open, intervals);
  }
  const windows = merge(open ?? []);
  const t = now.getTime();
  const base = {
    timeZones: candidates.timeZones,
    regions: candidates.regions,
    uncertain: candidates.uncertain,
  };
  const current = windows.find(([start, end]) => start <= t && t < end);
  if (current) {
    return {
      allowed: true,
      reason: null,
      windowEndsAt: new Date(current[1]),
      nextAllowedAt: new Date(t),
      ...base,
    };
  }
  const next = windows.find(([start]) => start > t);
  return {
    allowed: false,
    reason: next ? (closingLayer(constraints, now) ?? "no_common_window") : "no_common_window",
    windowEndsAt: null,
    nextAllowedAt: next ? new Date(next[0]) : null,
    ...base,
  };
}

/**
 * How far back a caller must read a recipient's sends for {@link frequencyCapFor}'s caps: the
 * longest window among the state rules (24 h today). send-sms and process-retries both use it.
 */
export const FREQUENCY_CAP_LOOKBACK_MS = Math.max(
  0,
  ...STATE_RULES.map((r) => (r.frequencyCap?.windowHours ?? 0) * 3_600_000),
);

/** A frequency cap: at most `max` messages per rolling `windowMs`. */
export interface FrequencyCap {
  max: number;
  windowMs: number;
  /** The regions whose rules impose it. */
  regions: string[];
}

/** The strictest frequency cap among the recipient's candidate regions, or `null`. */
export function frequencyCapFor(
  recipient: QuietHoursRecipient,
  options: QuietHoursOptions = {},
): FrequencyCap | null {
  const { regions } = resolveCandidates(recipient, options);
  let cap: FrequencyCap | null = null;
  for (const rule of options.stateRules ?? STATE_RULES) {
    if (!rule.frequencyCap || !regions.includes(rule.region)) continue;
    const windowMs = rule.frequencyCap.windowHours * 3_600_000;
    const { max } = rule.frequencyCap;
    if (!cap || max / windowMs < cap.max / cap.windowMs) {
      cap = { max, windowMs, regions: [rule.region] };
    } else if (max === cap.max && windowMs === cap.windowMs) {
      cap.regions.push(rule.region);
    }
  }
  return cap;
}

/** Result of {@link checkFrequencyCap}. */
export interface FrequencyCapResult {
  allowed: boolean;
  /** Messages already sent inside the rolling window ending at `now`. */
  count: number;
  /** When one more message fits (`now` when allowed). */
  nextAllowedAt: Date;
}

/**
 * Checks a cap against the recipient's recent send times: allowed while fewer than `max` sends
 * fall in `(now - windowMs, now]`; otherwise the next slot opens when the oldest of the last
 * `max` sends leaves the window.
 */
export function checkFrequencyCap(
  recentSends: readonly Date[],
  now: Date,
  cap: Pick<FrequencyCap, "max" | "windowMs">,
): FrequencyCapResult {
  const t = now.getTime();
  const inWindow = recentSends
    .map((d) => d.getTime())
    .filter((s) => s > t - cap.windowMs && s <= t)
    .sort((a, b) => a - b);
  if (inWindow.length < cap.max) {
    return { allowed: true, count: inWindow.length, nextAllowedAt: new Date(t) };
  }
  const blocking = inWindow[inWindow.length - cap.max];
  return {
    allowed: false,
    count: inWindow.length,
    nextAllowedAt: new Date(blocking + cap.windowMs),
  };
}
