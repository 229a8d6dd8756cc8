/**
 * The pure parts of twilio-webhook: which URL Twilio signed, how a request body becomes webhook
 * parameters, what a status callback records, what an inbound reply means, and TwiML answers.
 * No I/O here; the handler (`supabase/functions/twilio-webhook/handler.ts`) does the rest.
 *
 * @module
 */

import { clip } from "@shared/text/clip.ts";
import { type InboundSettings, inboundSettingsFromEnv } from "@shared/compliance/inbound.ts";
import type { TwilioStatusCallback } from "./params.ts";

// What an inbound reply means and whether it is ours: shared with process-retries' inbound
// recovery, which feeds replies the webhook missed through the same steps.
export {
  decideInbound,
  type InboundDecision,
  isOurSender,
  twilioDefaultKeyword,
} from "@shared/compliance/inbound.ts";
export { clip };

/** Largest webhook body accepted. Twilio's own are a few KiB; 64 KiB leaves room for media. */
export const WEBHOOK_MAX_BODY_BYTES = 64 * 1024;

/** What the webhook needs from the environment: signing, its sender, how replies are answered. */
export interface WebhookConfig extends InboundSettings {
  /** `TWILIO_AUTH_TOKEN`: the signing key. */
  authToken: string;
  /** `TWILIO_WEBHOOK_URL`: the public URL Twilio calls (and signs). */
  webhookUrl: string;
  /** `TWILIO_ACCOUNT_SID`, when set. */
  accountSid: string | null;
  /** `TWILIO_PHONE_NUMBER`, when set. */
  phoneNumber: string | null;
  /** `TWILIO_MESSAGING_SERVICE_SID`, when set. */
  messagingServiceSid: string | null;
}

function clean(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

/**
 * The webhook's settings, or `null` when it cannot validate a signature (no auth token or no
 * public URL): then nothing may be trusted and the function answers `sms_disabled`.
 */
export function webhookConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): WebhookConfig | null {
  const authToken = clean(env.TWILIO_AUTH_TOKEN);
  const webhookUrl = clean(env.TWILIO_WEBHOOK_URL);
  if (!authToken || !webhookUrl) return null;
  try {
    new URL(webhookUrl);
  } catch {
    return null;
  }
  return {
    authToken,
    webhookUrl,
    accountSid: clean(env.TWILIO_ACCOUNT_SID),
    phoneNumber: clean(env.TWILIO_PHONE_NUMBER),
    messagingServiceSid: clean(env.TWILIO_MESSAGING_SERVICE_SID),
    ...inboundSettingsFromEnv(env),
  };
}

/**
 * The URL Twilio signed: the configured public URL with the query string of the request that
 * arrived. Twilio signs the full URL it called, query included (`bodySHA256` for JSON bodies is
 * added to it); `req.url` itself is the internal address behind the gateway and never used.
 */
export function publicWebhookUrl(configured: string, requestUrl: string): string {
  // The configured text is kept verbatim (host case, explicit default port): the signature
  // validator tries the port variants itself.
  const cut = configured.search(/[?#]/);
  const base = cut === -1 ? configured : configured.slice(0, cut);
  const withoutHash = requestUrl.split("#", 1)[0];
  const q = withoutHash.indexOf("?");
  return base + (q === -1 || q === withoutHash.length - 1 ? "" : withoutHash.slice(q));
}

/** Whether a (public) URL carries the JSON-body signature parameter `bodySHA256`. */
export function hasBodyHash(url: string): boolean {
  try {
    return new URL(url).searchParams.has("bodySHA256");
  } catch {
    return false;
  }
}

/**
 * A JSON webhook body → the string parameters the schemas expect: numbers and booleans become
 * their text (`"ErrorCode": 30007` → `"30007"`), nulls are dropped. `null` when the body is not a
 * JSON object.
 */
export function paramsFromJson(value: unknown): Record<string, unknown> | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    out[key] = typeof v === "number" || typeof v === "boolean" ? String(v) : v;
  }
  return out;
}

/** Arguments of `sms.record_status_event` for one status callback. */
export interface StatusEventArgs {
  messageSid: string;
  status: string;
  errorCode: number | null;
  errorMessage: string | null;
  /** What is kept with the event: the callback's identifiers, never phone numbers. */
  payload: Record<string, string>;
}

// Callback fields worth keeping as evidence; From/To are on the send log already.
const KEPT_CALLBACK_FIELDS = [
  "AccountSid",
  "MessagingServiceSid",
  "ApiVersion",
  "SmsStatus",
  "RawDlrDoneDate",
  "ChannelStatusMessage",
] as const;

/**
 * Maps a parsed status callback to the status RPC's arguments. The idempotency token is kept in
 * the payload for tracing; the event's identity is (MessageSid, MessageStatus), which every
 * re-delivery repeats, so duplicates are caught with or without the token.
 */
export function statusEventArgs(
  callback: TwilioStatusCallback,
  options: { idempotencyToken?: string | null } = {},
): StatusEventArgs {
  const payload: Record<string, string> = {};
  const raw = callback as Record<string, unknown>;
  for (const key of KEPT_CALLBACK_FIELDS) {
    const value = raw[key];
    if (typeof value === "string" && value !== "") payload[key] = clip(value, 200);
  }
  const token = options.idempotencyToken?.trim();
  if (token) payload.IdempotencyToken = clip(token, 200);
  return {
    messageSid: callback.MessageSid,
    status: callback.MessageStatus,
    errorCode: callback.ErrorCode ?? null,
    errorMessage: callback.ErrorMessage?.trim() ? clip(callback.ErrorMessage.trim(), 500) : null,
    payload,
  };
}

/** Escapes text for an XML element's content or attribute value. */
export function escapeXml(text: string): string {
  return text
    // Characters XML 1.0 does not allow at all (controls other than tab/CR/LF, lone surrogates).
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** TwiML answer: `<Response/>` with at most one `<Message>`; empty when `message` is null. */
export function twiml(message: string | null = null): string {
  const body = message === null || message === "" ? "" : `<Message>${escapeXml(message)}</Message>`;
  return `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;
}

/** Content type of every answer Twilio reads. */
export const TWIML_CONTENT_TYPE = "text/xml; charset=utf-8";

/** A phone number for logs: country/area prefix and last two digits only. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return "";
  if (phone.length <= 6) return "*".repeat(phone.length);
  return phone.slice(0, 3) + "*".repeat(phone.length - 5) + phone.slice(-2);
}
