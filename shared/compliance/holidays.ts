/**
 * Holiday calendars for the state rules that close on holidays: US federal holidays computed per
 * year with their observed dates, and the state holidays the rules name. Dates are local calendar
 * dates ("YYYY-MM-DD"); a rule closes on a holiday in the recipient's local date.
 *
 * Observed dates: for federal holidays, 5 U.S.C. § 6103(b) and Executive Order 11582 move a
 * holiday on a Saturday to the Friday before and one on a Sunday to the Monday after. States move
 * theirs differently (Rhode Island to the Monday after a Saturday or Sunday, R.I. Gen. Laws
 * § 25-1-1); since a recipient cannot be texted on "a holiday" either way, a calendar closes on
 * the actual date and on every observed date any of these conventions gives (the strict reading).
 *
 * @module
 */

/** One holiday on one date. */
export interface Holiday {
  /** Local date, "YYYY-MM-DD". */
  date: string;
  name: string;
  /** True when `date` is an observed date, not the holiday's own. */
  observed: boolean;
}

const DAY_MS = 86_400_000;

function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function utc(year: number, month: number, day: number): number {
  return Date.UTC(year, month - 1, day);
}

/** The `n`th `weekday` (Sunday = 0) of a month; `n = -1` for the last. */
function nthWeekday(year: number, month: number, weekday: number, n: number): number {
  if (n > 0) {
    const first = utc(year, month, 1);
    const shift = (weekday - new Date(first).getUTCDay() + 7) % 7;
    return first + (shift + (n - 1) * 7) * DAY_MS;
  }
  const last = utc(year, month + 1, 0);
  const shift = (new Date(last).getUTCDay() - weekday + 7) % 7;
  return last - shift * DAY_MS;
}

/** Western (Gregorian) Easter Sunday, anonymous Gregorian algorithm. */
function easter(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return utc(year, month, day);
}

type Rule = (year: number) => number;
const fixed = (month: number, day: number): Rule => (y) => utc(y, month, day);
const nth = (month: number, weekday: number, n: number): Rule => (y) =>
  nthWeekday(y, month, weekday, n);

interface HolidayDef {
  name: string;
  on: Rule;
  /** Fixed-date holidays move when they fall on a weekend. */
  movesOffWeekend?: boolean;
  /** First year in force. */
  since?: number;
}

/** The eleven federal holidays of 5 U.S.C. § 6103(a) (Juneteenth since 2021). */
const FEDERAL: readonly HolidayDef[] = [
  { name: "New Year's Day", on: fixed(1, 1), movesOffWeekend: true },
  { name: "Birthday of Martin Luther King, Jr.", on: nth(1, 1, 3) },
  { name: "Washington's Birthday", on: nth(2, 1, 3) },
  { name: "Memorial Day", on: nth(5, 1, -1) },
  {
    name: "Juneteenth National Independence Day",
    on: fixed(6, 19),
    movesOffWeekend: true,
    since: 2021,
  },
  { name: "Independence Day", on: fixed(7, 4), movesOffWeekend: true },
  { name: "Labor Day", on: nth(9, 1, 1) },
  { name: "Columbus Day", on: nth(10, 1, 2) },
  { name: "Veterans Day", on: fixed(11, 11), movesOffWeekend: true },
  { name: "Thanksgiving Day", on: nth(11, 4, 4) },
  { name: "Christmas Day", on: fixed(12, 25), movesOffWeekend: true },
];

/**
 * Alabama's state holidays, Ala. Code § 1-3-8, beyond the federal ones. Mardi Gras is a holiday
 * in Baldwin and Mobile counties only; a number cannot tell the county, so it closes statewide.
 */
const ALABAMA: readonly HolidayDef[] = [
  { name: "Confederate Memorial Day", on: nth(4, 1, 4) },
  { name: "Jefferson Davis' Birthday", on: nth(6, 1, 1) },
  { name: "Mardi Gras (Baldwin and Mobile counties)", on: (y) => easter(y) - 47 * DAY_MS },
];

/**
 * Rhode Island's general holidays, R.I. Gen. Laws § 25-1-1, beyond the federal ones (Sundays,
 * also listed there, are closed by the rule's weekly windows).
 */
const RHODE_ISLAND: readonly HolidayDef[] = [
  { name: "Rhode Island Independence Day", on: fixed(5, 4), movesOffWeekend: true },
  { name: "Victory Day", on: nth(8, 1, 2) },
  {
    // A general election of state officers is held every even year (R.I. Const. art. IV § 1).
    name: "Election Day",
    on: (y) => y % 2 === 0 ? nthWeekday(y, 11, 1, 1) + DAY_MS : NaN,
  },
];

function expand(defs: readonly HolidayDef[], year: number, strict: boolean): Holiday[] {
  const out: Holiday[] = [];
  for (const def of defs) {
    if (def.since !== undefined && year < def.since) continue;
    const day = def.on(year);
    if (Number.isNaN(day)) continue;
    out.push({ date: iso(day), name: def.name, observed: false });
    if (!def.movesOffWeekend) continue;
    const weekday = new Date(day).getUTCDay();
    // Saturday: the Friday before (federal) and the Monday after (Rhode Island and others).
    if (weekday === 6) {
      out.push({ date: iso(day - DAY_MS), name: def.name, observed: true });
      if (strict) out.push({ date: iso(day + 2 * DAY_MS), name: def.name, observed: true });
    }
    if (weekday === 0) out.push({ date: iso(day + DAY_MS), name: def.name, observed: true });
  }
  return out;
}

/** The calendars rules can name. */
export type HolidayCalendarId = "US" | "AL" | "RI";

const CALENDARS: Record<HolidayCalendarId, readonly HolidayDef[]> = {
  US: FEDERAL,
  AL: [...FEDERAL, ...ALABAMA],
  RI: [...FEDERAL, ...RHODE_ISLAND],
};

/** Where each calendar's state holidays come from. */
export const HOLIDAY_CALENDAR_SOURCES: Record<HolidayCalendarId, string> = {
  US: "5 U.S.C. § 6103(a)-(b); Executive Order 11582",
  AL: "5 U.S.C. § 6103; Ala. Code § 1-3-8",
  RI: "5 U.S.C. § 6103; R.I. Gen. Laws § 25-1-1",
};

function inYear(defs: readonly HolidayDef[], year: number, strict: boolean): Holiday[] {
  const prefix = `${String(year).padStart(4, "0")}-`;
  return [-1, 0, 1].flatMap((d) => expand(defs, year + d, strict))
    .filter((h) => h.date.startsWith(prefix))
    .sort((a, b) => a.date < b.date ? -1 : a.date > b.date ? 1 : 0);
}

/**
 * The dates a calendar closes on in `year`, sorted: each holiday's own date and its observed
 * dates under both conventions (a Saturday holiday closes the Friday before and the Monday after;
 * a Sunday one the Monday after). Includes the Friday, December 31, before a Saturday New Year.
 */
export function holidaysIn(calendar: HolidayCalendarId, year: number): Holiday[] {
  return inYear(CALENDARS[calendar], year, true);
}

/** US federal holidays in `year` with their federal observed dates (Sat → Fri, Sun → Mon). */
export function federalHolidays(year: number): Holiday[] {
  return inYear(FEDERAL, year, false);
}

const YEAR_CACHE = new Map<string, ReadonlySet<string>>();

/** Whether a local date ("YYYY-MM-DD") is closed as a holiday in `calendar`. */
export function isHoliday(calendar: HolidayCalendarId, date: string): boolean {
  const year = Number(date.slice(0, 4));
  const key = `${calendar}:${year}`;
  let set = YEAR_CACHE.get(key);
  if (!set) {
    set = new Set(holidaysIn(calendar, year).map((h) => h.date));
    if (YEAR_CACHE.size >= 32) YEAR_CACHE.delete(YEAR_CACHE.keys().next().value!);
    YEAR_CACHE.set(key, set);
  }
  return set.has(date);
}

/** {@link isHoliday} for a local day given as its midnight read as UTC (ms). */
export function isHolidayDay(calendar: HolidayCalendarId, localMidnightMs: number): boolean {
  return isHoliday(calendar, iso(localMidnightMs));
}
