/**
 * Twilio's JSON shapes for the Message resource and its paged list.
 * @module
 */
import type { StoredMessage } from "./store.ts";
import { rfc2822 } from "./time.ts";

/** The API version segment every Twilio Messages URL and payload carries. */
export const API_VERSION = "2010-04-01";

/** A Message resource exactly as Twilio serialises it (snake_case, counts as strings). */
export interface MessageResource {
  account_sid: string;
  api_version: string;
  body: string;
  date_created: string;
  date_sent: string | null;
  date_updated: string;
  direction: string;
  error_code: number | null;
  error_message: string | null;
  from: string | null;
  messaging_service_sid: string | null;
  num_media: string;
  num_segments: string;
  price: string | null;
  price_unit: string;
  sid: string;
  status: string;
  subresource_uris: { media: string };
  to: string;
  uri: string;
}

/** Path of the Messages collection for an account. */
export function messagesPath(accountSid: string): string {
  return `/${API_VERSION}/Accounts/${accountSid}/Messages.json`;
}

/** Serialises a stored message as Twilio's Message resource. */
export function toMessageResource(m: StoredMessage, accountSid: string): MessageResource {
  const base = `/${API_VERSION}/Accounts/${accountSid}/Messages/${m.sid}`;
  return {
    account_sid: accountSid,
    api_version: API_VERSION,
    body: m.body,
    date_created: rfc2822(m.dateCreated),
    date_sent: m.dateSent ? rfc2822(m.dateSent) : null,
    date_updated: rfc2822(m.dateUpdated),
    direction: m.direction,
    error_code: m.errorCode,
    error_message: m.errorMessage,
    from: m.from,
    messaging_service_sid: m.messagingServiceSid,
    num_media: "0",
    num_segments: String(m.numSegments),
    price: m.price ?? null,
    price_unit: "USD",
    sid: m.sid,
    status: m.status,
    subresource_uris: { media: `${base}/Media.json` },
    to: m.to,
    uri: `${base}.json`,
  };
}

/** Twilio's page envelope for `GET …/Messages.json`. */
export interface MessagePage {
  messages: MessageResource[];
  page: number;
  page_size: number;
  start: number;
  end: number;
  uri: string;
  first_page_uri: string;
  next_page_uri: string | null;
  previous_page_uri: string | null;
}

/**
 * Cuts one page out of an already filtered, newest-first list. Page links keep the caller's
 * filters, because twilio-node follows `next_page_uri` verbatim when it auto-paginates.
 */
export function toMessagePage(
  items: StoredMessage[],
  accountSid: string,
  filters: URLSearchParams,
  page: number,
  pageSize: number,
): MessagePage {
  const startIndex = page * pageSize;
  const slice = items.slice(startIndex, startIndex + pageSize);
  const link = (p: number) => {
    const q = new URLSearchParams(filters);
    q.set("PageSize", String(pageSize));
    q.set("Page", String(p));
    // twilio-node and Twilio both carry a PageToken; the sandbox pages by number, so the token
    // (the SID of the previous page's last message) is informative only.
    if (p > 0 && p === page + 1 && slice.length > 0) {
      q.set("PageToken", `PA${slice[slice.length - 1].sid}`);
    }
    return `${messagesPath(accountSid)}?${q}`;
  };
  const hasNext = startIndex + pageSize < items.length;
  return {
    messages: slice.map((m) => toMessageResource(m, accountSid)),
    page,
    page_size: pageSize,
    start: startIndex,
    end: slice.length > 0 ? startIndex + slice.length - 1 : startIndex,
    uri: link(page),
    first_page_uri: link(0),
    next_page_uri: hasNext ? link(page + 1) : null,
    previous_page_uri: page > 0 ? link(page - 1) : null,
  };
}
