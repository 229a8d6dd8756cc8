/**
 * Reading Twilio's Messages list: a recipient's messages, newest first, page by page, until the
 * list reaches messages older than a given instant. process-retries reconciles a send that may
 * have reached Twilio against it before sending again.
 *
 * The pages are read as twilio-node reads them (`GET …/Messages.json?To=&From=&PageSize=50`, then
 * each page's `next_page_uri`) through the client's fetch requests, without twilio's library,
 * whose package in a function's module graph cost about 50 ms of its cold start (docs/decisions.md).
 *
 * @module
 */
import type { TwilioClient } from "./client.ts";

/** The fields of a Twilio message resource the callers use (twilio-node's names and types). */
export interface ListedMessage {
  sid: string;
  to: string;
  from: string | null;
  body: string;
  direction: string;
  messagingServiceSid?: string | null;
  dateCreated: Date | null;
  status: string;
  numSegments?: string | number | null;
}

/** Which messages to list. */
export interface MessageListQuery {
  to: string;
  /** Sender number; omitted when a Messaging Service sends (Twilio picks the number). */
  from?: string | null;
  /** Listing stops after the first page that reaches messages created before this instant. */
  since: Date;
  /** At most this many pages of 50. */
  maxPages: number;
}

/**
 * Whether listing (newest first) can stop after a page whose oldest message is this one: every
 * further message is older than `since`.
 */
export function listedPastSince(oldest: ListedMessage | undefined, since: Date): boolean {
  return oldest?.dateCreated != null && oldest.dateCreated.getTime() < since.getTime();
}

/** Twilio's API host: page links (`next_page_uri`) are relative to it. */
const TWILIO_API = "https://api.twilio.com";

/** A message resource of Twilio's JSON (snake_case) as twilio-node's instance names it. */
function listed(m: Record<string, unknown>): ListedMessage {
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  const created = typeof m.date_created === "string" ? new Date(m.date_created) : null;
  return {
    sid: String(m.sid),
    to: text(m.to) ?? "",
    from: text(m.from),
    body: text(m.body) ?? "",
    direction: text(m.direction) ?? "",
    messagingServiceSid: text(m.messaging_service_sid),
    // RFC 2822 ("Thu, 04 Dec 2026 13:00:00 +0000"); twilio-node leaves an unreadable date unset.
    dateCreated: created && !Number.isNaN(created.getTime()) ? created : null,
    status: text(m.status) ?? "",
    numSegments: typeof m.num_segments === "string" || typeof m.num_segments === "number"
      ? m.num_segments
      : null,
  };
}

/** Lists the recipient's messages newest first, from `since` on (a page may reach further). */
export async function listMessages(
  twilio: TwilioClient,
  query: MessageListQuery,
): Promise<ListedMessage[]> {
  // No DateSent filter: a message Twilio still holds in its queue has no date_sent yet and
  // would not be listed (and a reconciled send would then go out a second time).
  let uri = `${TWILIO_API}/2010-04-01/Accounts/${twilio.config.accountSid}/Messages.json`;
  let params: Record<string, unknown> | undefined = {
    To: query.to,
    ...(query.from ? { From: query.from } : {}),
    PageSize: 50,
  };
  const all: ListedMessage[] = [];
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
    const instances = page.messages.map((m) =>
      listed(typeof m === "object" && m !== null ? m as Record<string, unknown> : {})
    );
    all.push(...instances);
    if (listedPastSince(instances[instances.length - 1], query.since)) break;
    if (typeof page.next_page_uri !== "string" || !page.next_page_uri || n >= query.maxPages) {
      break;
    }
    uri = TWILIO_API + page.next_page_uri;
    params = undefined;
  }
  return all;
}
