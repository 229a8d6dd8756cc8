/**
 * "Make the next message to this number fail": a one-shot failure armed per destination number
 * (config `failNext: { "+1…": code }`) and consumed by the next create to that number that would
 * otherwise succeed. A REST code (21xxx) refuses the create itself, as Twilio's API would; a
 * delivery code (30xxx) lets the create succeed and ends the message `undelivered` (after `sent`)
 * or `failed` (never sent), reported by status callback with `ErrorCode`.
 * @module
 */
import type { FailureSpec } from "./config.ts";
import { errors, type TwilioErrorBody } from "./twilio-errors.ts";

/** How an armed failure shows up. */
export type FailNextKind = "rejected" | FailureSpec["status"];

/** A code the inbox offers and the config accepts. */
export interface FailNextCode {
  code: number;
  kind: FailNextKind;
  label: string;
}

/** Every code `failNext` accepts, in the order the inbox lists them. */
export const FAIL_NEXT_CODES: readonly FailNextCode[] = [
  { code: 21610, kind: "rejected", label: "Attempt to send to unsubscribed recipient" },
  { code: 21211, kind: "rejected", label: "Invalid 'To' phone number" },
  { code: 21612, kind: "rejected", label: "'To' number not reachable from this sender" },
  { code: 21614, kind: "rejected", label: "'To' number is not a mobile number" },
  { code: 21408, kind: "rejected", label: "Permission to send to this region not enabled" },
  { code: 30003, kind: "undelivered", label: "Unreachable destination handset" },
  { code: 30004, kind: "undelivered", label: "Message blocked" },
  { code: 30005, kind: "undelivered", label: "Unknown destination handset" },
  { code: 30006, kind: "undelivered", label: "Landline or unreachable carrier" },
  { code: 30007, kind: "undelivered", label: "Message filtered by the carrier" },
  { code: 30008, kind: "undelivered", label: "Unknown error" },
  { code: 30001, kind: "failed", label: "Queue overflow" },
  { code: 30034, kind: "failed", label: "Message from an unregistered number (A2P 10DLC)" },
];

const BY_CODE = new Map(FAIL_NEXT_CODES.map((c) => [c.code, c]));

/** The description of an accepted code, or `undefined`. */
export function failNextCode(code: number): FailNextCode | undefined {
  return BY_CODE.get(code);
}

/** What an armed failure does to one create request. */
export type FailNextEffect =
  | { kind: "rejected"; error: TwilioErrorBody }
  | { kind: "delivery"; failure: FailureSpec };

/** The effect of `code` on a create to `to` from `sender`; `null` for an unknown code. */
export function failNextEffect(code: number, to: string, sender: string): FailNextEffect | null {
  const known = BY_CODE.get(code);
  if (!known) return null;
  if (known.kind !== "rejected") {
    return { kind: "delivery", failure: { status: known.kind, errorCode: code } };
  }
  const error = code === 21610
    ? errors.unsubscribed()
    : code === 21211
    ? errors.invalidTo(to)
    : code === 21612
    ? errors.unreachableTo(to, sender)
    : code === 21614
    ? errors.notMobile(to)
    : errors.regionNotEnabled(to);
  return { kind: "rejected", error };
}
