/**
 * Message prices as Twilio reports them: only on the Message resource (never in a status
 * callback), once the message has been handed to a carrier (sent, delivered, undelivered), as
 * the negative of segments × the per-segment price, written with 5 decimals ("-0.01660") in
 * `price_unit` USD. A message Twilio never sent (failed) is not charged for its segments: its
 * price stays null. (Twilio's $0.001 failed-message processing fee, since September 2024, is a
 * separate fee per message; the sandbox does not model it.)
 * @module
 */
import type { SandboxConfig } from "./config.ts";
import type { MessageStatus, StoredMessage } from "./store.ts";

/** Twilio's US long-code list price per outbound SMS segment (shared/campaign/estimate.ts). */
export const DEFAULT_PRICE_PER_SEGMENT = 0.0083;

/** The statuses of a message Twilio has charged for. */
const BILLED: ReadonlySet<MessageStatus> = new Set<MessageStatus>([
  "sent",
  "delivered",
  "undelivered",
]);

/** Twilio's price string for `segments` at `perSegment` dollars: "-0.01660". */
export function twilioPrice(segments: number, perSegment: number): string {
  // In hundred-thousandths, so that 3 × 0.0083 is not 0.024900000000000002.
  const units = Math.round(segments * perSegment * 100_000);
  return units === 0 ? "0.00000" : `-${(units / 100_000).toFixed(5)}`;
}

/**
 * The price a message takes on reaching `status`: set once, when it first reaches a billed
 * status, unless the configuration leaves it unpriced (`pricePerSegment` null, or the number
 * listed in `unpricedTo`), which stands for Twilio not having priced it yet.
 */
export function priceOnStatus(
  message: Pick<StoredMessage, "price" | "numSegments" | "to">,
  status: MessageStatus,
  config: Pick<SandboxConfig, "pricePerSegment" | "unpricedTo">,
): string | null {
  if (message.price) return message.price;
  if (!BILLED.has(status)) return null;
  if (config.pricePerSegment === null || config.unpricedTo.includes(message.to)) return null;
  return twilioPrice(message.numSegments, config.pricePerSegment);
}
