/**
 * In-memory record of everything the sandbox received and did: messages with their status
 * timelines, every create attempt (including faulted ones) and the opt-outs Twilio would enforce.
 * @module
 */
import { epochSeconds } from "./time.ts";

/** Message statuses the sandbox produces (a subset of Twilio's). */
export type MessageStatus =
  | "accepted"
  | "queued"
  | "sent"
  | "delivered"
  | "undelivered"
  | "failed"
  | "received";

/** `outbound-api` for messages created through the REST API, `inbound` for simulated replies. */
export type Direction = "outbound-api" | "inbound";

/** The outcome of one HTTP request the sandbox made to the app (callback or inbound webhook). */
export interface DeliveryResult {
  url: string;
  /** `I-Twilio-Idempotency-Token` sent with the request. */
  idempotencyToken: string;
  /** HTTP status of the answer; `null` when no answer arrived. */
  httpStatus: number | null;
  /** Why no answer arrived (connection refused, timeout…); `null` on an answer. */
  error: string | null;
  /** Attempts made, retries included (Twilio's connection overrides); absent means one. */
  attempts?: number;
  durationMs: number;
}

/** One step of a message's life: a status change and the callback that reported it, if any. */
export interface TimelineEntry {
  /** ISO 8601. */
  at: string;
  status: MessageStatus;
  /** True for a re-delivery of a callback already sent (duplicate injection). */
  duplicate: boolean;
  /** `null` when the message has no StatusCallback or the step is the initial status. */
  callback: DeliveryResult | null;
  /** True when the callback was lost on purpose (config `callbackDropRate`, `dropCallbacksTo`). */
  dropped?: boolean;
}

/** A message as the sandbox keeps it. */
export interface StoredMessage {
  /** Insertion order; ties on Twilio's second-precision dates are broken with it. */
  seq: number;
  sid: string;
  direction: Direction;
  to: string;
  /** `null` until a Messaging Service picks a sender, as in Twilio's `accepted` state. */
  from: string | null;
  body: string;
  messagingServiceSid: string | null;
  status: MessageStatus;
  numSegments: number;
  encoding: string;
  errorCode: number | null;
  errorMessage: string | null;
  dateCreated: Date;
  dateUpdated: Date;
  dateSent: Date | null;
  statusCallback: string | null;
  validityPeriod: number | null;
  /** What Twilio charged ("-0.00830"), once the message was sent and priced (`pricing.ts`). */
  price?: string | null;
  /** Inbound only: the `OptOutType` sent with the webhook, when any. */
  optOutType: string | null;
  /** Inbound only: what the app's webhook answered. */
  webhook: DeliveryResult | null;
  /**
   * Inbound only: the texts of the `<Message>` elements in the webhook's TwiML answer, i.e. what
   * Twilio would text back to the handset (the STOP confirmation, the HELP answer…).
   */
  replies?: string[];
  timeline: TimelineEntry[];
}

/** How a create request ended. */
export type AttemptOutcome =
  | "created"
  | "rejected"
  | "unauthorized"
  | "rate_limited"
  | "server_error"
  | "timeout";

/** One create request, whatever happened to it, so tests can count attempts and retries. */
export interface AttemptRecord {
  /** When it was answered (or dropped). */
  at: string;
  /**
   * When the request's head arrived (node-server.ts `receivedAt`), before the configured
   * latency: with a latency distribution the answers' order is not the requests' (a sender's
   * pace shows in these).
   */
  receivedAt?: string;
  outcome: AttemptOutcome;
  /** `null` for a dropped (timed-out) request: no answer was sent. */
  httpStatus: number | null;
  /** Twilio error code of the answer, if it was an error. */
  code: number | null;
  to: string | null;
  from: string | null;
  messagingServiceSid: string | null;
  messageSid: string | null;
}

/** Filters of the Messages list API, already parsed. */
export interface MessageFilter {
  to?: string;
  from?: string;
  /** Epoch-second bounds on `date_sent`; a message must fall within every bound given. */
  sentOn?: { from: number; to: number };
  sentBefore?: number;
  sentAfter?: number;
}

/** The sandbox's memory. Not persistent: a restart or `clear()` forgets everything. */
export class SandboxStore {
  #seq = 0;
  #messages = new Map<string, StoredMessage>();
  #attempts: AttemptRecord[] = [];
  #optOuts = new Set<string>();

  /** Adds a message, assigning its insertion order. */
  add(message: Omit<StoredMessage, "seq">): StoredMessage {
    const stored = { ...message, seq: ++this.#seq };
    this.#messages.set(stored.sid, stored);
    return stored;
  }

  /** One message by SID. */
  get(sid: string): StoredMessage | undefined {
    return this.#messages.get(sid);
  }

  /** All messages of one direction (or all), oldest first. */
  all(direction?: Direction): StoredMessage[] {
    const list = [...this.#messages.values()];
    return direction ? list.filter((m) => m.direction === direction) : list;
  }

  /** Messages matching a list-API filter, newest first as Twilio lists them. */
  query(filter: MessageFilter): StoredMessage[] {
    return this.all().filter((m) => matches(m, filter)).sort((a, b) =>
      b.dateCreated.getTime() - a.dateCreated.getTime() || b.seq - a.seq
    );
  }

  /** Records a create attempt. */
  recordAttempt(attempt: Omit<AttemptRecord, "at">): void {
    this.#attempts.push({ at: new Date().toISOString(), ...attempt });
  }

  /** Every create attempt, oldest first. */
  attempts(): AttemptRecord[] {
    return [...this.#attempts];
  }

  /** Marks a handset as opted out of (or back into) messages from one sender. */
  setOptOut(handset: string, sender: string, optedOut: boolean): void {
    const key = `${handset}|${sender}`;
    if (optedOut) this.#optOuts.add(key);
    else this.#optOuts.delete(key);
  }

  /** Whether Twilio would refuse to send from `sender` to `handset` (error 21610). */
  isOptedOut(handset: string, sender: string): boolean {
    return this.#optOuts.has(`${handset}|${sender}`);
  }

  /** Current opt-outs as `{ handset, sender }` pairs. */
  optOuts(): { handset: string; sender: string }[] {
    return [...this.#optOuts].map((key) => {
      const [handset, sender] = key.split("|");
      return { handset, sender };
    });
  }

  /** Forgets messages, attempts and opt-outs. */
  clear(): void {
    this.#messages.clear();
    this.#attempts = [];
    this.#optOuts.clear();
  }
}

function matches(m: StoredMessage, f: MessageFilter): boolean {
  if (f.to !== undefined && m.to !== f.to) return false;
  if (f.from !== undefined && m.from !== f.from) return false;
  const hasDateFilter = f.sentOn || f.sentBefore !== undefined || f.sentAfter !== undefined;
  if (!hasDateFilter) return true;
  // Twilio filters on date_sent: a message not sent yet matches no DateSent filter.
  if (!m.dateSent) return false;
  const sent = epochSeconds(m.dateSent);
  if (f.sentOn && (sent < f.sentOn.from || sent >= f.sentOn.to)) return false;
  if (f.sentBefore !== undefined && sent >= f.sentBefore) return false;
  if (f.sentAfter !== undefined && sent < f.sentAfter) return false;
  return true;
}
