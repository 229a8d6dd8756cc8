/**
 * Reading the messages customers sent us from Twilio's Messages list, for a window of time:
 * what process-retries' inbound recovery feeds through the webhook's path after an outage of
 * twilio-webhook, when Twilio had nowhere to post them.
 *
 * The list is read as twilio-node reads it (`GET …/Messages.json?To=&DateSent>=&DateSent<=`,
 * `PageSize=50`, then each page's `next_page_uri`; twilio-node sends a `Date` filter as
 * `YYYY-MM-DDThh:mm:ssZ`), through the client's requests, without twilio's library (cold start,
 * docs/decisions.md), as `messages.ts` does.
 *
 * @module
 */
import type { TwilioClient } from "./client.ts";
import { messagePages, twilioDate } from "./messages.ts";

/** An inbound message of the list (twilio-node's names). */
export interface InboundListedMessage {
  sid: string;
  from: string;
  to: string;
  body: string;
  numMedia: number;
  messagingServiceSid: string | null;
  /** When Twilio received it (`date_sent` of an inbound message). */
  dateSent: Date;
}

/** Which inbound messages to list. */
export interface InboundListQuery {
  /** Our number; `null` lists every number of the account (a Messaging Service's senders). */
  to: string | null;
  /** Inclusive bounds on `date_sent`. */
  sentAfter: Date;
  sentBefore: Date;
  /** At most this many pages of 50. */
  maxPages: number;
}

/** The messages found, and whether the list ended before `maxPages` ran out. */
export interface InboundListing {
  messages: InboundListedMessage[];
  complete: boolean;
}

/** A `Date` as twilio-node serializes a date-time filter. */
export function twilioDateTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function inbound(m: Record<string, unknown>, q: InboundListQuery): InboundListedMessage | null {
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  const sent = twilioDate(m.date_sent);
  const sid = text(m.sid), from = text(m.from), to = text(m.to);
  if (text(m.direction) !== "inbound" || !sid || !from || !to || !sent) return null;
  // Twilio filters to the second (or the day, for a date-only filter): the window is exact here.
  const seconds = Math.floor(sent.getTime() / 1000);
  if (seconds < Math.floor(q.sentAfter.getTime() / 1000)) return null;
  if (seconds > Math.floor(q.sentBefore.getTime() / 1000)) return null;
  const media = Number(m.num_media);
  return {
    sid,
    from,
    to,
    body: text(m.body) ?? "",
    numMedia: Number.isInteger(media) && media > 0 ? media : 0,
    messagingServiceSid: text(m.messaging_service_sid),
    dateSent: sent,
  };
}

/** Lists the inbound messages received within the window, newest first as Twilio lists them. */
export async function listInboundMessages(
  twilio: TwilioClient,
  query: InboundListQuery,
): Promise<InboundListing> {
  const messages: InboundListedMessage[] = [];
  const pages = messagePages(twilio, {
    ...(query.to ? { To: query.to } : {}),
    "DateSent>": twilioDateTime(query.sentAfter),
    "DateSent<": twilioDateTime(query.sentBefore),
  }, query.maxPages);
  for (;;) {
    const page = await pages.next();
    if (page.done) return { messages, complete: page.value };
    for (const m of page.value) {
      const found = inbound(m, query);
      if (found) messages.push(found);
    }
  }
}
