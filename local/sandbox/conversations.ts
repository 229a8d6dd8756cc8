/**
 * The inbox's view of the sandbox (`GET /api/conversations`): everything grouped by handset
 * number, as a phone would see it: the app's messages with their status timelines, the phone's
 * replies with what the webhook answered, create requests Twilio refused, and the number's
 * opt-out and armed-failure state.
 * @module
 */
import type { SandboxContext } from "./context.ts";
import { FAIL_NEXT_CODES, type FailNextCode, failNextCode } from "./fail-next.ts";
import { classifyKeyword, type OptOutType } from "./keywords.ts";
import type { AttemptRecord, StoredMessage } from "./store.ts";
import { deliveryErrorMessages } from "./twilio-errors.ts";

/** One step of a message's life as the inbox shows it. */
export interface TimelineView {
  at: string;
  status: string;
  duplicate: boolean;
  /** Error code reported with this step (`undelivered`/`failed` only). */
  errorCode: number | null;
  /** The app's answer to the callback: HTTP status, or why none came; `null`: no callback. */
  callback: { httpStatus: number | null; error: string | null; durationMs: number } | null;
}

/** A message from the app to the phone. */
export interface OutboundItem {
  kind: "outbound";
  at: string;
  sid: string;
  from: string | null;
  body: string;
  segments: number;
  encoding: string;
  status: string;
  errorCode: number | null;
  errorMessage: string | null;
  /** False when the create request had no `StatusCallback`. */
  hasCallback: boolean;
  timeline: TimelineView[];
}

/** A reply from the phone to the app. */
export interface InboundItem {
  kind: "inbound";
  at: string;
  sid: string;
  to: string;
  body: string;
  segments: number;
  encoding: string;
  /** Twilio's keyword class of the body (a whole-message STOP, START or HELP word), if any. */
  keyword: OptOutType | null;
  /** `OptOutType` sent with the webhook (Advanced Opt-Out only). */
  optOutType: string | null;
  /** The webhook's answer; `null` while it is still in flight. */
  webhook: { httpStatus: number | null; error: string | null; durationMs: number } | null;
  /** What the webhook's TwiML texts back to the phone. */
  replies: string[];
}

/** A create request Twilio answered with an error (no message was created). */
export interface RefusedItem {
  kind: "refused";
  at: string;
  outcome: AttemptRecord["outcome"];
  httpStatus: number | null;
  code: number | null;
  description: string | null;
  from: string | null;
}

/** Anything in a conversation, oldest first. */
export type ConversationItem = OutboundItem | InboundItem | RefusedItem;

/** Everything about one handset number. */
export interface Conversation {
  number: string;
  /** Twilio's own opt-out list holds this handset for these sending numbers (after STOP). */
  optedOutFrom: string[];
  /** The failure armed for the next message to this number, if any. */
  failNext: FailNextCode | null;
  /** Time of the latest item (ISO 8601), or `null` for a number with none yet. */
  lastAt: string | null;
  /** The most recent {@link MAX_ITEMS} items, oldest first. */
  items: ConversationItem[];
  /** Older items left out. */
  omittedItems: number;
}

/** Most conversations in one view (the most recent ones); a load test must not stall the page. */
export const MAX_CONVERSATIONS = 200;
/** Most items per conversation in one view (the most recent ones). */
export const MAX_ITEMS = 200;

/** The body of `GET /api/conversations`. */
export interface ConversationsView {
  accountSid: string;
  phoneNumbers: string[];
  inboundWebhookUrl: string | null;
  failNextCodes: readonly FailNextCode[];
  /** Most recent activity first, at most {@link MAX_CONVERSATIONS}. */
  conversations: Conversation[];
  /** Older conversations left out. */
  omittedConversations: number;
}

const REFUSAL_TEXT: Readonly<Record<number, string>> = {
  20429: "Too Many Requests",
  20500: "Internal Server Error",
  20503: "Service Unavailable",
  21602: "Message body is required",
  21603: "A 'From' phone number is required",
  21604: "A 'To' phone number is required",
  21606: "'From' is not an SMS-capable number of the account",
  21617: "Body exceeds the 1600 character limit",
  21705: "Invalid Messaging Service",
};

function describeRefusal(a: AttemptRecord): string | null {
  if (a.outcome === "timeout") return "No answer: the connection was dropped (timeout)";
  if (a.code === null) return null;
  return failNextCode(a.code)?.label ?? REFUSAL_TEXT[a.code] ?? null;
}

function outbound(m: StoredMessage): OutboundItem {
  return {
    kind: "outbound",
    at: m.dateCreated.toISOString(),
    sid: m.sid,
    from: m.from,
    body: m.body,
    segments: m.numSegments,
    encoding: m.encoding,
    status: m.status,
    errorCode: m.errorCode,
    errorMessage: m.errorMessage ??
      (m.errorCode !== null ? deliveryErrorMessages[m.errorCode] ?? null : null),
    hasCallback: m.statusCallback !== null,
    timeline: m.timeline.map((t) => ({
      at: t.at,
      status: t.status,
      duplicate: t.duplicate,
      errorCode: t.status === "undelivered" || t.status === "failed" ? m.errorCode : null,
      callback: t.callback
        ? {
          httpStatus: t.callback.httpStatus,
          error: t.callback.error,
          durationMs: t.callback.durationMs,
        }
        : null,
    })),
  };
}

function inbound(m: StoredMessage): InboundItem {
  return {
    kind: "inbound",
    at: m.dateCreated.toISOString(),
    sid: m.sid,
    to: m.to,
    body: m.body,
    segments: m.numSegments,
    encoding: m.encoding,
    keyword: classifyKeyword(m.body),
    optOutType: m.optOutType,
    webhook: m.webhook
      ? {
        httpStatus: m.webhook.httpStatus,
        error: m.webhook.error,
        durationMs: m.webhook.durationMs,
      }
      : null,
    replies: m.replies ?? [],
  };
}

/** Builds the inbox's view from the sandbox's memory and config. */
export function conversationsView(ctx: SandboxContext): ConversationsView {
  const byNumber = new Map<string, Conversation>();
  const conversation = (number: string) => {
    let c = byNumber.get(number);
    if (!c) {
      c = { number, optedOutFrom: [], failNext: null, lastAt: null, items: [], omittedItems: 0 };
      byNumber.set(number, c);
    }
    return c;
  };
  // Keeps insertion order for items with the same millisecond (store order, then attempts).
  const order = new Map<ConversationItem, number>();
  let n = 0;
  for (const m of ctx.store.all()) {
    const item = m.direction === "inbound" ? inbound(m) : outbound(m);
    const number = m.direction === "inbound" ? m.from ?? "" : m.to;
    order.set(item, n++);
    conversation(number).items.push(item);
  }
  for (const a of ctx.store.attempts()) {
    if (a.outcome === "created" || a.outcome === "unauthorized" || a.to === null) continue;
    const item: RefusedItem = {
      kind: "refused",
      at: a.at,
      outcome: a.outcome,
      httpStatus: a.httpStatus,
      code: a.code,
      description: describeRefusal(a),
      from: a.from,
    };
    order.set(item, n++);
    conversation(a.to).items.push(item);
  }
  for (const { handset, sender } of ctx.store.optOuts()) {
    conversation(handset).optedOutFrom.push(sender);
  }
  for (const [number, code] of Object.entries(ctx.config().failNext)) {
    conversation(number).failNext = failNextCode(code) ?? null;
  }
  const list = [...byNumber.values()];
  for (const c of list) {
    c.items.sort((a, b) => a.at.localeCompare(b.at) || order.get(a)! - order.get(b)!);
    c.lastAt = c.items.at(-1)?.at ?? null;
    c.omittedItems = Math.max(0, c.items.length - MAX_ITEMS);
    if (c.omittedItems > 0) c.items = c.items.slice(-MAX_ITEMS);
  }
  // Most recent first, items of one millisecond told apart by store order; numbers with nothing
  // yet (armed or opted out only) last, by number.
  const latest = (c: Conversation) => c.items.length > 0 ? order.get(c.items.at(-1)!)! : -1;
  list.sort((a, b) =>
    (b.lastAt ?? "").localeCompare(a.lastAt ?? "") || latest(b) - latest(a) ||
    a.number.localeCompare(b.number)
  );
  return {
    accountSid: ctx.accountSid,
    phoneNumbers: [...ctx.phoneNumbers],
    inboundWebhookUrl: ctx.config().inboundWebhookUrl,
    failNextCodes: FAIL_NEXT_CODES,
    // A number with a failure armed stays in view however busy the sandbox is: it is what the
    // page was just used for (a suite's earlier sends pushed it out, and the badge never showed).
    conversations: [
      ...list.slice(0, MAX_CONVERSATIONS),
      ...list.slice(MAX_CONVERSATIONS).filter((c) => c.failNext !== null),
    ],
    omittedConversations: list.slice(MAX_CONVERSATIONS).filter((c) => c.failNext === null).length,
  };
}
