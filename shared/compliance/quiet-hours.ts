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

import { listAreaCodes, locatePhone } from "./area-codes.ts";
import { COUNTRY_TIME_ZONES, countryOfCallingCode } from "./countries.ts";
import { type HolidayCalendarId, isHolidayDay } from "./holidays.ts";
import {
  type DailyWindow,
  everyDay,
  FEDERAL_WINDOW,
  STATE_RULES,
  type StateRule,
} from "./state-rules.ts";

/** Which rule closed the window, when sending is not allowed. */
export type QuietHoursReason =
  | "federal_quiet_hours"
  | "state_quiet_hours"
  | "business_hours"
  | "no_common_window";

/** Result of a quiet-hours check for one recipient at one instant. */
export interface QuietHoursResult {
  /** True when a message may be sent now. */
  allowed: boolean;
  /** The binding rule when not allowed; `null` when allowed. */
  reason: QuietHoursReason | null;
  /** When allowed: the end of the current window (exclusive). Otherwise `null`. */
  windowEndsAt: Date | null;
  /** When the next window opens (`now` itself when allowed); `null` if none within a week. */
  nextAllowedAt: Date | null;
  /** Candidate IANA time zones the decision considered. */
  timeZones: string[];
  /** Candidate states/provinces the decision considered. */
  regions: string[];
  /** True when zone or state came from the area code or a fallback, not the customer record. */
  uncertain: boolean;
  /** Where the zones came from. */
  basis: LocationBasis;
}

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
  /**
   * ISO 3166-1 country of the number (libphonenumber's, `describePhone`); when absent, a number
   * outside +1 is placed by its calling code (`countries.ts`).
   */
  country?: string | null;
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
  /** Where the zones came from. */
  basis: LocationBasis;
}

/**
 * Where a recipient's candidate zones came from: the customer record's zone, the record's state,
 * the number's area code (+1), the number's country, or the US-wide fallback.
 */
export type LocationBasis = "record" | "state" | "area_code" | "country" | "fallback";

// Two zones keep the same clock when their offsets agree in January and in July (and now).
const CLOCK_SAMPLES = [Date.UTC(2026, 0, 15), Date.UTC(2026, 6, 15)];

function sameClock(a: string, b: string): boolean {
  if (a === b) return true;
  const at = offsetOf(a);
  const bt = offsetOf(b);
  return [...CLOCK_SAMPLES, Date.now()].every((ms) => at(ms) === bt(ms));
}

/** The states and provinces any of whose zones keeps the same clock as `zone`. */
function regionsUsingZone(zone: string): string[] {
  const out: string[] = [];
  for (const [region, zones] of REGION_TIME_ZONES) {
    if (zones.some((z) => sameClock(z, zone))) out.push(region);
  }
  return out;
}

/**
 * Resolves the candidates quiet hours consider. Zone: the record's, else every zone of the
 * record's state, else the area code's, else (+1 only) the US fallback; a number outside +1 takes
 * its country's zones (`countries.ts`), never a US fallback, and none when the country's zones
 * are not known (no window then: the message waits until a zone is recorded). Region: the
 * record's, else the area code's; a +1 number with an unknown area code (or no phone at all)
 * could be in any state with a rule, unless the record's zone narrows it to the states that use
 * that zone. Numbers outside +1 get no US state rules.
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

  const zoneFromRecord = zone !== null && isValidTimeZone(zone);
  const foreign = phone !== null && !phone.startsWith("+1");

  let regions: string[];
  if (state) regions = [state];
  else if (located) regions = located.regions;
  else if (foreign) regions = [];
  else {
    regions = [...new Set(rules.map((r) => r.region))];
    if (zoneFromRecord) {
      const using = regionsUsingZone(zone);
      regions = regions.filter((r) => using.includes(r));
    }
  }

  let timeZones: string[];
  let basis: LocationBasis;
  if (zoneFromRecord) {
    timeZones = [zone];
    basis = "record";
  } else if (state && REGION_TIME_ZONES.has(state)) {
    timeZones = [...REGION_TIME_ZONES.get(state)!];
    basis = "state";
  } else if (located) {
    timeZones = located.timeZones;
    basis = "area_code";
  } else if (foreign) {
    const country = recipient.country?.trim().toUpperCase() || countryOfCallingCode(phone);
    timeZones = [...((country && COUNTRY_TIME_ZONES[country]) ?? [])];
    basis = "country";
  } else {
    timeZones = [...(options.fallbackTimeZones ?? DEFAULT_FALLBACK_TIME_ZONES)];
    basis = "fallback";
  }

  // A number outside +1 has no state to be unsure about.
  const stateKnown = state !== null || (phone !== null && !phone.startsWith("+1") && !located);
  return { timeZones, regions, uncertain: !(zoneFromRecord && stateKnown), basis };
}

type Layer = "federal" | "state" | "business";

interface Constraint {
  zone: string;
  /** Per weekday: the open window, or null. */
  windows: readonly (DailyWindow | null)[];
  /** Which layer closes each weekday's window at each edge, for the `reason`. */
  layers: {
    layer: Layer;
    windows: readonly (DailyWindow | null)[];
    holidays?: HolidayCalendarId;
  }[];
  /** Holiday calendars on whose dates the whole day is closed. */
  holidays: HolidayCalendarId[];
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
      ...rules.map((r) => ({ layer: "state" as const, windows: r.windows, holidays: r.holidays })),
    ];
    if (business && !businessZone) layers.push({ layer: "business", windows: business });
    const windows = [0, 1, 2, 3, 4, 5, 6].map((d) =>
      layers.reduce<DailyWindow | null>(
        (acc, l) => intersectDaily(acc, l.windows[d]),
        { start: 0, end: 24 * 60 },
      )
    );
    const holidays = [...new Set(rules.flatMap((r) => r.holidays ? [r.holidays] : []))];
    constraints.push({ zone, windows, layers, holidays });
  }
  if (business && businessZone) {
    constraints.push({
      zone: businessZone,
      windows: business,
      layers: [{ layer: "business", windows: business }],
      holidays: [],
    });
  }
  return constraints;
}

type Interval = [number, number];

const DAY_MS = 86_400_000;
/**
 * Days scanned ahead for the next window. The longest closure modelled is four days (Rhode
 * Island: a Saturday Christmas closes Friday to Monday), so a week and a half is ample.
 */
const HORIZON_DAYS = 10;

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

/**
 * `zone`'s offset from UTC at an instant (ms since the epoch), in ms, from the zone data the
 * windows use (campaign schedules convert wall times with it, so both agree on every DST edge).
 * Throws a RangeError for a zone the runtime lacks.
 */
export function zoneOffsetMs(zone: string, ms: number): number {
  return offsetOf(zone)(ms);
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
  const key = `${zone} ${wall}`;
  let instant = INSTANTS.get(key);
  if (instant === undefined) {
    instant = resolveWall(wall, zone);
    if (INSTANTS.size >= MAX_INSTANTS) INSTANTS.delete(INSTANTS.keys().next().value!);
    INSTANTS.set(key, instant);
  }
  return instant;
}

// Every check converts the same few wall times (a window's edges on the days ahead), each with
// two or three Temporal offset lookups: 200–250 µs a check on the edge runtime's Deno, 5% of
// send-sms's CPU. Remembered by zone and wall time, it is the same answer from the same zone
// data (docs/performance.md, fourteenth round).
const INSTANTS = new Map<string, number>();
const MAX_INSTANTS = 4096;

function resolveWall(wall: number, zone: string): number {
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
    if (!window || constraint.holidays.some((h) => isHolidayDay(h, day))) continue;
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
    const { day, weekday, minute } = localParts(now, c.zone);
    for (const l of c.layers) {
      const holiday = l.holidays !== undefined && isHolidayDay(l.holidays, day);
      if (holiday || !isOpen(l.windows[weekday], minute)) closed.add(l.layer);
    }
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
  if (candidates.timeZones.length === 0) {
    // A number whose country's zones are unknown: no window can be computed.
    return {
      allowed: false,
      reason: "no_common_window",
      windowEndsAt: null,
      nextAllowedAt: null,
      timeZones: [],
      regions: candidates.regions,
      uncertain: true,
      basis: candidates.basis,
    };
  }
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
    basis: candidates.basis,
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
