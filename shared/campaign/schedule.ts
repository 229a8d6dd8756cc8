/**
 * When a campaign's message may go to a group of recipients who share what quiet hours look at
 * (zone, state, area code): the schedule's start, moved into the group's sending window, or
 * skipped when no window opens before the campaign expires.
 *
 * A "local" schedule is a wall time in the recipient's zone (the first candidate zone, as
 * `resolveCandidates` orders them), so 10:00 goes at 10:00 in New York and three hours later in
 * Los Angeles. A wall time a spring-forward skips is moved to the first instant after the gap
 * (02:30 on a US spring-forward night is 03:00 daylight time); one a fall-back repeats takes its
 * first occurrence (01:30 daylight time). Postgres's `AT TIME ZONE` resolves both the other way
 * (02:30 → 03:30, 01:30 → standard time), so SQL that computes release times must not rely on it.
 *
 * @module
 */

import {
  checkQuietHours,
  type QuietHoursOptions,
  type QuietHoursRecipient,
  resolveCandidates,
  zoneOffsetMs,
} from "../compliance/quiet-hours.ts";
import { frequencyCapFor } from "../compliance/frequency-cap.ts";

/** When a campaign starts: now, at an instant, or at a wall time in each recipient's zone. */
export type CampaignSchedule =
  | { kind: "now" }
  | { kind: "at"; at: Date }
  | { kind: "local"; date: string; time: string };

/** When a group's messages are released, or why they are not sent at all. */
export type Release =
  | { kind: "release"; at: Date }
  | { kind: "skip"; reason: "no_window_before_expiry" };

/** Inputs of {@link releaseFor} besides the recipient and the schedule. */
export interface ReleaseOptions {
  now: Date;
  /** Nothing is released after this instant. */
  expiresAt: Date;
  quietHours?: QuietHoursOptions;
}

const DAY_MS = 86_400_000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * The instant a wall time ("YYYY-MM-DD", "HH:MM") occurs in `zone`: the first occurrence when a
 * fall-back repeats it, the end of the gap when a spring-forward skips it. Assumes at most one
 * offset change within a day of it, as in every IANA zone. Throws a RangeError for an invalid
 * date, time or zone.
 */
export function localTimeToInstant(date: string, time: string, zone: string): Date {
  const d = DATE.exec(date);
  const t = TIME.exec(time);
  if (!d || !t) throw new RangeError(`invalid local time ${JSON.stringify(`${date} ${time}`)}`);
  const wall = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(t[1]), Number(t[2]));
  const check = new Date(wall);
  if (check.getUTCDate() !== Number(d[3]) || check.getUTCMonth() !== Number(d[2]) - 1) {
    throw new RangeError(`invalid date ${JSON.stringify(date)}`);
  }
  const wallAt = (ms: number) => ms + zoneOffsetMs(zone, ms);
  const offsets = [...new Set([-DAY_MS, 0, DAY_MS].map((k) => zoneOffsetMs(zone, wall + k)))];
  const instants = offsets.map((o) => wall - o).sort((a, b) => a - b);
  const valid = instants.find((ms) => wallAt(ms) === wall);
  if (valid !== undefined) return new Date(valid);
  // A gap: the wall clock jumps over `wall` between the two candidates; find the jump.
  let lo = instants[0];
  let hi = instants[instants.length - 1];
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallAt(mid) >= wall) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

function startOf(
  recipient: QuietHoursRecipient,
  schedule: CampaignSchedule,
  options: ReleaseOptions,
): Date | null {
  switch (schedule.kind) {
    case "now":
      return options.now;
    case "at":
      return schedule.at;
    case "local": {
      const zone = resolveCandidates(recipient, options.quietHours).timeZones[0];
      return zone === undefined ? null : localTimeToInstant(schedule.date, schedule.time, zone);
    }
  }
}

const SKIP: Release = { kind: "skip", reason: "no_window_before_expiry" };

/**
 * The first instant at or after the schedule's start (or `now`, if later) that the recipient's
 * quiet hours allow; skipped when there is none, or it is after `expiresAt`, or a local schedule
 * meets a recipient with no known zone.
 */
export function releaseFor(
  recipient: QuietHoursRecipient,
  schedule: CampaignSchedule,
  options: ReleaseOptions,
): Release {
  const start = startOf(recipient, schedule, options);
  if (start === null) return SKIP;
  let at = start < options.now ? options.now : start;
  // nextAllowedAt is itself allowed; the bound only guards against a rule set that disagrees.
  for (let i = 0; i < 4; i++) {
    if (at > options.expiresAt) return SKIP;
    const q = checkQuietHours(recipient, at, options.quietHours);
    if (q.allowed) return { kind: "release", at };
    if (!q.nextAllowedAt) return SKIP;
    at = q.nextAllowedAt;
  }
  return SKIP;
}

/** The strictest rolling frequency cap over the recipient's candidate regions, or `null`. */
export function frequencyCapOf(
  recipient: QuietHoursRecipient,
  options?: QuietHoursOptions,
): { max: number; windowMs: number } | null {
  const cap = frequencyCapFor(recipient, options);
  return cap && { max: cap.max, windowMs: cap.windowMs };
}
