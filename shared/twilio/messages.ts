/**
 * Reading Twilio's Messages list: a recipient's messages, newest first, page by page, until the
 * list reaches messages older than a given instant. process-retries reconciles a send that may
 * have reached Twilio against it before sending again.
 *
 * @module
 */
import type { TwilioClient } from "./client.ts";

/** The fields of a Twilio message resource the callers use (twilio-node's names). */
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

/** Lists the recipient's messages newest first, from `since` on (a page may reach further). */
export async function listMessages(
  twilio: TwilioClient,
  query: MessageListQuery,
): Promise<ListedMessage[]> {
  const rest = await twilio.rest();
  // No DateSent filter: a message Twilio still holds in its queue has no date_sent yet and
  // would not be listed (and a reconciled send would then go out a second time).
  let page: { instances: unknown[]; nextPageUrl?: string; nextPage(): unknown } = await rest
    .messages.page({ to: query.to, ...(query.from ? { from: query.from } : {}), pageSize: 50 });
  const listed: ListedMessage[] = [];
  for (let n = 1;; n++) {
    const instances = page.instances as unknown as ListedMessage[];
    listed.push(...instances);
    if (listedPastSince(instances[instances.length - 1], query.since)) break;
    if (!page.nextPageUrl || n >= query.maxPages) break;
    const next = await page.nextPage() as typeof page | undefined;
    if (!next) break;
    page = next;
  }
  return listed;
}
