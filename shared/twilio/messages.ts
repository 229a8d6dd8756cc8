/**
 * Reading Twilio's Messages list: a recipient's messages, newest first, page by page, until the
 * list reaches messages older than a given instant. process-retries reconciles a send that may
 * have reached Twilio against it before sending again. And reading one message
 * (`GET …/Messages/{Sid}.json`): process-retries asks for the status of a message whose status
 * callback never came.
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

/**
 * A date of Twilio's JSON (RFC 2822, "Thu, 04 Dec 2026 13:00:00 +0000"), or `null` when it is
 * absent or unreadable, as twilio-node leaves such a date unset.
 */
export function twilioDate(value: unknown): Date | null {
  const date = typeof value === "string" ? new Date(value) : null;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

/** A message resource of Twilio's JSON (snake_case) as twilio-node's instance names it. */
function listed(m: Record<string, unknown>): ListedMessage {
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    sid: String(m.sid),
    to: text(m.to) ?? "",
    from: text(m.from),
    body: text(m.body) ?? "",
    direction: text(m.direction) ?? "",
    messagingServiceSid: text(m.messaging_service_sid),
    dateCreated: twilioDate(m.date_created),
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
  const all: ListedMessage[] = [];
  const pages = messagePages(twilio, {
    To: query.to,
    ...(query.from ? { From: query.from } : {}),
  }, query.maxPages);
  for await (const page of pages) {
    const instances = page.map((m) => listed(m));
    all.push(...instances);
    if (listedPastSince(instances[instances.length - 1], query.since)) break;
  }
  return all;
}

/** The largest page Twilio's list answers (`PageSize`). */
export const MAX_PAGE_SIZE = 1000;

/**
 * The pages of Twilio's Messages list for `filters`, as twilio-node reads them (`PageSize=50`
 * unless `pageSize` says otherwise, up to {@link MAX_PAGE_SIZE}; then each page's
 * `next_page_uri`), at most `maxPages`; each page's messages as objects. The generator's return
 * value says whether the list was read to its end.
 */
export async function* messagePages(
  twilio: TwilioClient,
  filters: Record<string, unknown>,
  maxPages: number,
  pageSize = 50,
): AsyncGenerator<Record<string, unknown>[], boolean> {
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new Error(`pageSize must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  }
  let uri = `${TWILIO_API}/2010-04-01/Accounts/${twilio.config.accountSid}/Messages.json`;
  let params: Record<string, unknown> | undefined = { ...filters, PageSize: pageSize };
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
    yield page.messages.map((m) =>
      typeof m === "object" && m !== null ? m as Record<string, unknown> : {}
    );
    const next = typeof page.next_page_uri === "string" ? page.next_page_uri : "";
    if (!next) return true;
    if (n >= maxPages) return false;
    uri = TWILIO_API + next;
    params = undefined;
  }
}

/** A message's current state as Twilio's Message resource shows it (twilio-node's names). */
export interface FetchedMessage {
  sid: string;
  status: string;
  errorCode: number | null;
  errorMessage: string | null;
  numSegments: number | null;
  /** What Twilio charged, as it writes it (a negative decimal string); null until priced. */
  price: string | null;
  priceUnit: string | null;
  dateUpdated: Date | null;
}

/** What fetching one message found: the message, or that Twilio has none with that sid. */
export type FetchMessageResult = { found: true; message: FetchedMessage } | { found: false };

/** Options of {@link fetchMessage}. */
export interface FetchMessageOptions {
  /** Abandon the request after this long (default: the client's). */
  timeoutMs?: number;
}

/** Whether `sid` has the shape of a Twilio message sid (SMS `SM…` or MMS `MM…`). */
export function isMessageSid(sid: string): boolean {
  return /^(SM|MM)[0-9a-fA-F]{32}$/.test(sid);
}

/** Twilio's error code for a resource that does not exist (answered with HTTP 404). */
export const TWILIO_NOT_FOUND = 20404;

/**
 * Reads one message (`GET …/Messages/{Sid}.json`, twilio-node's `messages(sid).fetch()`).
 * `{ found: false }` only when Twilio answers 404 (code 20404): any other answer, and a network
 * error or timeout, throws, since it says nothing about the message.
 */
export async function fetchMessage(
  twilio: TwilioClient,
  sid: string,
  options: FetchMessageOptions = {},
): Promise<FetchMessageResult> {
  if (!isMessageSid(sid)) throw new Error("not a Twilio message sid");
  const res = await twilio.request({
    method: "get",
    uri: `${TWILIO_API}/2010-04-01/Accounts/${twilio.config.accountSid}/Messages/${sid}.json`,
    headers: { Accept: "application/json" },
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
  });
  if (res.statusCode === 404) {
    const code = errorCodeOf(res.body);
    // A 404 without Twilio's code may be a proxy's: not evidence that the message is gone.
    if (code === TWILIO_NOT_FOUND) return { found: false };
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    throw new Error(`Twilio answered ${res.statusCode} to a Message fetch`);
  }
  const m = JSON.parse(res.body) as Record<string, unknown>;
  if (typeof m !== "object" || m === null || typeof m.status !== "string" || m.sid !== sid) {
    throw new Error("Twilio's Message resource has no status");
  }
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  const int = (v: unknown) => {
    const n = typeof v === "number" ? v : typeof v === "string" && v.trim() ? Number(v) : NaN;
    return Number.isInteger(n) ? n : null;
  };
  return {
    found: true,
    message: {
      sid,
      status: m.status,
      errorCode: int(m.error_code),
      errorMessage: text(m.error_message),
      numSegments: int(m.num_segments),
      price: text(m.price),
      priceUnit: text(m.price_unit),
      dateUpdated: twilioDate(m.date_updated),
    },
  };
}

function errorCodeOf(body: string): number | null {
  try {
    const parsed = JSON.parse(body) as { code?: unknown };
    return typeof parsed?.code === "number" ? parsed.code : null;
  } catch {
    return null;
  }
}
