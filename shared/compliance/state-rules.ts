/**
 * The rules: the federal calling window and the states whose laws are stricter, each with its
 * hours, days and frequency cap and the statute it comes from. Data only; the time math is in
 * `quiet-hours.ts`, the rolling cap in `frequency-cap.ts`.
 *
 * @module
 */

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
  /** Closed all day on the holidays of this calendar, in the recipient's local date. */
  holidays?: HolidayCalendarId;
  /** Statute or regulation. */
  source: string;
  /**
   * When `source` was last checked ("YYYY-MM-DD"), and against what: the statute's or
   * regulation's own text (`primary`) or a law firm's or news summary (`secondary`); `null` when
   * it has not been re-checked since it was written.
   */
  dateChecked: string | null;
  checkedAgainst?: "primary" | "secondary";
  /** Scope notes (what the statute covers, effective date). */
  note?: string;
}

import type { HolidayCalendarId } from "./holidays.ts";

function hm(text: string): number {
  const [h, m] = text.split(":").map(Number);
  return h * 60 + m;
}

function daily(start: string, end: string): DailyWindow {
  return { start: hm(start), end: hm(end) };
}

export function everyDay(window: DailyWindow): WeeklyWindows {
  return [window, window, window, window, window, window, window];
}

/** The federal window, every day: 8:00–21:00 local. */
export const FEDERAL_WINDOW: DailyWindow = daily("08:00", "21:00");
/** Source of {@link FEDERAL_WINDOW}. */
export const FEDERAL_SOURCE = "47 U.S.C. § 227(c); 47 CFR § 64.1200(c)(1)";

/**
 * States whose rules are stricter than the federal window. These statutes govern telephone
 * solicitations (and, as amended or construed, text messages); they are applied to every message
 * because the safe reading of a review request or campaign is "marketing". Where a statute also
 * closes on holidays, `holidays` names the calendar (`holidays.ts`). docs/compliance.md lists
 * them with their sources.
 */
/** The date the rules below were checked against their sources. */
const CHECKED = "2026-12-04";

export const STATE_RULES: readonly StateRule[] = [
  {
    region: "FL",
    windows: everyDay(daily("08:00", "20:00")),
    frequencyCap: { max: 3, windowHours: 24 },
    source: "Fla. Stat. § 501.059(8) (Florida Telephone Solicitation Act, as amended by " +
      "SB 1120 (2021)); Fla. Stat. § 501.616(6)(a) (hours), 501.616(6)(b) (cap)",
    dateChecked: CHECKED,
    checkedAgainst: "primary",
    note: "At most 3 calls or texts on the same subject within 24 hours.",
  },
  {
    region: "OK",
    windows: everyDay(daily("08:00", "20:00")),
    frequencyCap: { max: 3, windowHours: 24 },
    source: "Okla. Stat. tit. 15, § 775C.4 (Telephone Solicitation Act of 2022)",
    // § 775C.4's own text was not found in any source we could read (docs/compliance.md lists
    // them); the definitions in § 775C.2 were, and bring text messages in.
    dateChecked: CHECKED,
    checkedAgainst: "secondary",
    note: "At most 3 calls or texts on the same subject within 24 hours.",
  },
  {
    region: "MD",
    windows: everyDay(daily("08:00", "20:00")),
    frequencyCap: { max: 3, windowHours: 24 },
    source: "Md. Code, Com. Law § 14-4502(c) (Stop the Spam Calls Act of 2023, in force " +
      "2024-01-01)",
    // The section was read (subsection (a): the consent rule, whose exemptions apply to "this
    // subsection" only); the hours and cap in (c) only in secondary sources.
    dateChecked: CHECKED,
    checkedAgainst: "secondary",
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
    source: 'Tex. Bus. & Com. Code § 301.051(b)(2) (hours of a "consumer telephone call", ' +
      "§ 301.001); SB 140 (89th Leg., in force 2025-09-01) brought texts into ch. 302, not ch. 301",
    // § 301.051's hours only in secondary sources. SB 140 amends ch. 302's definitions (its bill
    // analysis and fiscal note, read); ch. 301's call is one "to a residential telephone number"
    // (former § 37.01(4), read; apparently recodified unchanged in 2007). Whether a text is such
    // a call is open, so the window is applied to every message regardless.
    dateChecked: CHECKED,
    checkedAgainst: "secondary",
    note: "Sunday 12:00–21:00, other days 9:00–21:00.",
  },
  {
    region: "CT",
    windows: everyDay(daily("09:00", "20:00")),
    source: "Conn. Gen. Stat. § 42-288a(c), as amended by Public Act 23-98 (in force 2023-10-01)",
    // Subsection (c) read as far as "A telephonic sales call that is made to any consumer
    // residential, mo…" (a reproduction of the current text); its hours, and P.A. 23-98's move
    // from 21:00 to 20:00, only in secondary sources.
    dateChecked: CHECKED,
    checkedAgainst: "secondary",
    note: "9:00–20:00 every day; telephonic sales calls include text or media messages " +
      "since P.A. 23-98.",
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
    holidays: "RI",
    source: 'R.I. Gen. Laws §§ 5-61-2(2) ("hours of operation": "Monday through Friday, except ' +
      'a state or federal holiday"), 5-61-3.6; holidays: R.I. Gen. Laws § 25-1-1, 5 U.S.C. § 6103',
    dateChecked: CHECKED,
    checkedAgainst: "primary",
    note: "Weekdays 9:00–18:00, Saturday 10:00–17:00, no Sunday; state and federal holidays " +
      "closed (Saturday holidays too: the strict reading).",
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
    source: "Miss. Code Ann. § 77-3-723 (Mississippi Telephone Solicitation Act)",
    dateChecked: CHECKED,
    checkedAgainst: "primary",
    note: "8:00–20:00, no Sunday.",
  },
  {
    region: "WA",
    windows: everyDay(daily("08:00", "20:00")),
    source: "Rev. Code Wash. § 19.158.040(2)",
    dateChecked: CHECKED,
    checkedAgainst: "primary",
  },
  {
    region: "AL",
    windows: [
      null,
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
      daily("08:00", "20:00"),
    ],
    holidays: "AL",
    source: "Ala. Admin. Code r. 770-X-5-.17(1)(b) (automated calls; (2) the same for live " +
      "calls) (Public Service Commission); holidays: Ala. Code § 1-3-8, 5 U.S.C. § 6103",
    // r. 770-X-5-.17(1)(b), for "all automated solicitation telephone calls to consumers in the
    // State of Alabama": "No solicitation calls are allowed on Sundays or holidays. On the days
    // that calls are allowed, none will be placed prior to 8 a.m. or after 8 p.m."
    dateChecked: CHECKED,
    checkedAgainst: "primary",
    note: '8:00–20:00, no Sunday, no state or federal holiday ("holidays" is undefined: both).',
  },
  {
    region: "MA",
    windows: everyDay(daily("08:00", "20:00")),
    source: "201 CMR 12.02 (unsolicited telephonic sales calls, incl. text messages)",
    dateChecked: CHECKED,
    checkedAgainst: "primary",
    note: "No sales calls or texts 20:00–8:00.",
  },
  {
    region: "OR",
    windows: everyDay(daily("08:00", "20:00")),
    frequencyCap: { max: 3, windowHours: 24 },
    source: "ORS 646.563(1)(b) (hours and cap), as amended by HB 3865 (2025, in force " +
      "2026-01-01; texts included in ORS 646.561's telephone solicitation)",
    // ORS 646.569 (cited before) is the do-not-call list section (its text, read); the amended
    // 646.563 only in secondary sources.
    dateChecked: CHECKED,
    checkedAgainst: "secondary",
    note: "At most 3 solicitations per 24 hours; the established-business-relationship " +
      "exemption is not applied (every message is treated as marketing).",
  },
];
