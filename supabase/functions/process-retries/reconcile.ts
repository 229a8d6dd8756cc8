/**
 * Reconciling a message whose send may or may not have reached Twilio (a worker died mid-call, a
 * request timed out). Twilio has no idempotency key, so before such a message is sent again its
 * recipient's messages are listed and searched for it; this module is the search, without I/O.
 *
 * @module
 */
import { applySmartEncoding } from "@shared/text/segments.ts";
import type { ListedMessage } from "@shared/twilio/messages.ts";

/** What is being looked for. */
export interface ReconcileTarget {
  to: string;
  /** Sender number, when messages are sent from a number. */
  from: string | null;
  /** Messaging Service, when messages are sent through one (`from` is then Twilio's choice). */
  messagingServiceSid: string | null;
  body: string;
  /** Messages created before this instant are older than the send log, hence not it. */
  since: Date;
}

/**
 * Slack on `since`: Twilio's `date_created` has whole seconds and its clock is not the database's.
 */
export const RECONCILE_CLOCK_SKEW_MS = 5 * 60_000;

/** The instant before which listed messages cannot be the one sought. */
export function reconcileSince(logCreatedAt: Date): Date {
  return new Date(logCreatedAt.getTime() - RECONCILE_CLOCK_SKEW_MS);
}

/**
 * Whether a listed message is the sought one: outbound, to the recipient, from our sender, the
 * same text (as sent, or after Twilio's Smart Encoding), created after the log.
 */
export function matchesTarget(message: ListedMessage, target: ReconcileTarget): boolean {
  if (!message.direction.startsWith("outbound")) return false;
  if (message.to !== target.to) return false;
  if (target.messagingServiceSid) {
    if (message.messagingServiceSid && message.messagingServiceSid !== target.messagingServiceSid) {
      return false;
    }
  } else if (target.from && message.from !== target.from) {
    return false;
  }
  if (message.dateCreated && message.dateCreated.getTime() < target.since.getTime()) return false;
  return message.body === target.body || message.body === applySmartEncoding(target.body);
}

/**
 * Picks the sought message among listed ones: the oldest match whose sid no other send log
 * already holds (two identical texts to one customer are two messages). `null` when none.
 */
export function findSentMessage(
  messages: readonly ListedMessage[],
  target: ReconcileTarget,
  options: { takenSids?: ReadonlySet<string> } = {},
): ListedMessage | null {
  const takenSids = options.takenSids ?? new Set<string>();
  let best: ListedMessage | null = null;
  for (const m of messages) {
    if (takenSids.has(m.sid) || !matchesTarget(m, target)) continue;
    if (
      best === null ||
      (m.dateCreated?.getTime() ?? Infinity) < (best.dateCreated?.getTime() ?? Infinity)
    ) {
      best = m;
    }
  }
  return best;
}
