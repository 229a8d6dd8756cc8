/**
 * Simulated inbound messages: builds Twilio's incoming-message webhook parameters, applies
 * Twilio's own opt-out bookkeeping, and posts the webhook signed to the app.
 * @module
 */
import type { SandboxConfig } from "./config.ts";
import { newIdempotencyToken, newSid } from "./ids.ts";
import { classifyKeyword } from "./keywords.ts";
import { API_VERSION } from "./resource.ts";
import { countSegments } from "./segments.ts";
import type { SandboxStore, StoredMessage } from "./store.ts";
import type { TaskTracker } from "./tasks.ts";
import { postSignedForm } from "./webhook.ts";
import { MAX_BODY_LENGTH } from "./validate.ts";

/** The `POST /api/inbound` body. */
export interface InboundInput {
  /** The handset sending the message (E.164). */
  from: string;
  /** One of the account's numbers; defaults to the first. */
  to?: string;
  body: string;
}

/** What the app's webhook answered. */
export interface InboundAnswer {
  status: number;
  contentType: string | null;
  body: string;
}

/** Outcome of a simulated inbound message. */
export type InboundResult =
  | { ok: true; answer: InboundAnswer; message: StoredMessage }
  | { ok: false; httpStatus: number; error: string; message?: StoredMessage };

/** What simulating an inbound message needs from the sandbox. */
export interface InboundDeps {
  accountSid: string;
  authToken: string;
  phoneNumbers: readonly string[];
  messagingServiceSid: string | null;
  config: () => SandboxConfig;
  store: SandboxStore;
  tasks: TaskTracker;
  log: (line: string) => void;
}

const E164 = /^\+[1-9]\d{1,14}$/;

/** Validates the JSON body of `POST /api/inbound`; returns an error message or the input. */
export function parseInboundInput(value: unknown, phoneNumbers: readonly string[]):
  | { ok: true; input: Required<InboundInput> }
  | { ok: false; error: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: "body must be a JSON object {from, to?, body}" };
  }
  const { from, to, body } = value as Record<string, unknown>;
  if (typeof from !== "string" || !E164.test(from)) {
    return { ok: false, error: "from must be an E.164 phone number" };
  }
  if (to !== undefined && (typeof to !== "string" || !phoneNumbers.includes(to))) {
    return { ok: false, error: "to must be one of the account's phone numbers" };
  }
  if (typeof body !== "string") return { ok: false, error: "body must be a string" };
  if (body.length > MAX_BODY_LENGTH) {
    return { ok: false, error: `body must be at most ${MAX_BODY_LENGTH} characters` };
  }
  return { ok: true, input: { from, to: (to as string | undefined) ?? phoneNumbers[0], body } };
}

/** Records the inbound message, posts it to the webhook and returns the webhook's answer. */
export async function simulateInbound(
  deps: InboundDeps,
  input: Required<InboundInput>,
): Promise<InboundResult> {
  const config = deps.config();
  const url = config.inboundWebhookUrl;
  if (url === null) {
    return { ok: false, httpStatus: 409, error: "no inboundWebhookUrl configured" };
  }
  const keyword = classifyKeyword(input.body);
  // Twilio keeps its own opt-out list whether or not Advanced Opt-Out is on: after STOP it
  // refuses sends from that number (21610) until the handset texts START.
  if (keyword === "STOP") deps.store.setOptOut(input.from, input.to, true);
  if (keyword === "START") deps.store.setOptOut(input.from, input.to, false);

  const sid = newSid("SM");
  const { segments, encoding } = countSegments(input.body);
  const params: Record<string, string> = {
    MessageSid: sid,
    SmsMessageSid: sid,
    SmsSid: sid,
    AccountSid: deps.accountSid,
    From: input.from,
    To: input.to,
    Body: input.body,
    NumMedia: "0",
    NumSegments: String(segments),
    SmsStatus: "received",
    ApiVersion: API_VERSION,
  };
  if (deps.messagingServiceSid) params.MessagingServiceSid = deps.messagingServiceSid;
  if (input.from.startsWith("+1")) params.FromCountry = "US";
  if (input.to.startsWith("+1")) params.ToCountry = "US";
  const optOutType = config.advancedOptOut ? keyword : null;
  if (optOutType) params.OptOutType = optOutType;

  const now = new Date();
  const message = deps.store.add({
    sid,
    direction: "inbound",
    to: input.to,
    from: input.from,
    body: input.body,
    messagingServiceSid: deps.messagingServiceSid,
    status: "received",
    numSegments: segments,
    encoding,
    errorCode: null,
    errorMessage: null,
    dateCreated: now,
    dateUpdated: now,
    dateSent: now,
    statusCallback: null,
    validityPeriod: null,
    optOutType,
    webhook: null,
    timeline: [{ at: now.toISOString(), status: "received", duplicate: false, callback: null }],
  });

  const outcome = await deps.tasks.track(postSignedForm({
    url,
    params,
    authToken: deps.authToken,
    idempotencyToken: newIdempotencyToken(),
    signal: deps.tasks.signal,
  }));
  const { contentType, body, ...webhook } = outcome;
  message.webhook = webhook;
  message.timeline[0].callback = webhook;
  if (outcome.httpStatus !== null && outcome.httpStatus < 300) {
    message.replies = twimlMessages(contentType, body ?? "");
  }
  deps.log(`inbound ${sid} -> ${outcome.httpStatus ?? `error (${outcome.error})`}`);
  if (outcome.httpStatus === null) {
    return { ok: false, httpStatus: 502, error: `webhook unreachable: ${outcome.error}`, message };
  }
  return {
    ok: true,
    answer: { status: outcome.httpStatus, contentType, body: body ?? "" },
    message,
  };
}

const XML_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

/**
 * The texts of the `<Message>` verbs in a TwiML answer (`<Message>text</Message>` or
 * `<Message><Body>text</Body></Message>`), XML entities decoded; none for anything else.
 */
export function twimlMessages(contentType: string | null, body: string): string[] {
  if (!/xml/i.test(contentType ?? "") && !body.trimStart().startsWith("<")) return [];
  const texts: string[] = [];
  for (const match of body.matchAll(/<Message(?:\s[^>]*)?>([\s\S]*?)<\/Message>/g)) {
    const inner = /<Body(?:\s[^>]*)?>([\s\S]*?)<\/Body>/.exec(match[1])?.[1] ?? match[1];
    const text = inner.replace(/<[^>]*>/g, "").replace(
      /&(?:#x([0-9a-f]+)|#(\d+)|(amp|lt|gt|quot|apos));/gi,
      (entity, hex, dec, name) => {
        const code = hex ? parseInt(hex, 16) : dec ? Number(dec) : NaN;
        if (name) return XML_ENTITIES[name.toLowerCase()] ?? entity;
        return code <= 0x10ffff ? String.fromCodePoint(code) : entity;
      },
    );
    if (text.trim() !== "") texts.push(text.trim());
  }
  return texts;
}
