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
