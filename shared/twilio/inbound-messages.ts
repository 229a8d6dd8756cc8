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

const TWILIO_API = "https://api.twilio.com";

/** A `Date` as twilio-node serializes a date-time filter. */
export function twilioDateTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function inbound(m: Record<string, unknown>, q: InboundListQuery): InboundListedMessage | null {
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  const sent = text(m.date_sent) ? new Date(m.date_sent as string) : null;
  const sid = text(m.sid), from = text(m.from), to = text(m.to);
  if (text(m.direction) !== "inbound" || !sid || !from || !to) return null;
  if (!sent || Number.isNaN(sent.getTime())) return null;
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
  let uri = `${TWILIO_API}/2010-04-01/Accounts/${twilio.config.accountSid}/Messages.json`;
  let params: Record<string, unknown> | undefined = {
    ...(query.to ? { To: query.to } : {}),
    "DateSent>": twilioDateTime(query.sentAfter),
    "DateSent<": twilioDateTime(query.sentBefore),
    PageSize: 50,
  };
  const messages: InboundListedMessage[] = [];
  for (let n = 1;; n++) {
    const res = await twilio.request({
      method: "get",
      uri,
      params,
      headers: { Accept: "application/json" },
    });
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new Error(`Twilio answered ${res.statusCode} to a Messages list request`);
    }
    const page = JSON.parse(res.body) as { messages?: unknown; next_page_uri?: unknown };
    if (!Array.isArray(page.messages)) throw new Error("Twilio's Messages page has no messages");
    for (const m of page.messages) {
      const found = typeof m === "object" && m !== null
        ? inbound(m as Record<string, unknown>, query)
        : null;
      if (found) messages.push(found);
    }
    const next = typeof page.next_page_uri === "string" && page.next_page_uri
      ? page.next_page_uri
      : null;
    if (next === null) return { messages, complete: true };
    if (n >= query.maxPages) return { messages, complete: false };
    uri = TWILIO_API + next;
    params = undefined;
  }
}
