/**
 * Date formats Twilio uses on the wire, and cancellable waiting.
 * @module
 */

/** RFC 2822 with a numeric zone, as in Twilio's `date_created`: `Thu, 24 Aug 2023 05:01:45 +0000`. */
export function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, "+0000");
}

/** `RawDlrDoneDate` as carriers report it in delivery receipts: `YYMMDDhhmm`, UTC. */
export function rawDlrDoneDate(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate()) +
    two(date.getUTCHours()) + two(date.getUTCMinutes());
}

/**
 * A parsed `DateSent` filter value. Date-only values (`YYYY-MM-DD`, the documented form) cover a
 * whole UTC day; full timestamps (what twilio-node sends for a `Date`) are exact to the second.
 */
export interface DateBound {
  /** Inclusive start, epoch seconds. */
  from: number;
  /** Exclusive end, epoch seconds. */
  to: number;
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Parses a `DateSent` value; `null` when it is neither a date nor an ISO 8601 timestamp. */
export function parseDateBound(value: string): DateBound | null {
  const day = DATE_ONLY.exec(value);
  if (day) {
    const ms = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    const check = new Date(ms);
    // Date.UTC silently rolls 2024-02-31 over into March; Twilio rejects such dates.
    if (check.getUTCDate() !== Number(day[3]) || check.getUTCMonth() !== Number(day[2]) - 1) {
      return null;
    }
    return { from: ms / 1000, to: ms / 1000 + 86_400 };
  }
  if (DATE_TIME.test(value)) {
    // A timestamp with no zone is read as UTC: Twilio's filters are documented in GMT.
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(value);
    const ms = Date.parse(hasZone ? value : `${value}Z`);
    if (Number.isNaN(ms)) return null;
    const seconds = Math.floor(ms / 1000);
    return { from: seconds, to: seconds + 1 };
  }
  return null;
}

/** Epoch seconds, the precision Twilio stores and filters dates at. */
export function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/**
 * Waits `ms`, or less if `signal` aborts, so that closing the sandbox never leaves a timer behind
 * (Deno's test sanitizers fail on those). Resolves `false` when aborted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
