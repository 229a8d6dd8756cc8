/**
 * What Twilio posts to the webhook, as zod schemas (`zod/mini`, as the contract): a message
 * status callback or an inbound message, unknown fields kept; and {@link parseTwilioWebhook},
 * which tells them apart and never throws.
 *
 * An inbound message's `From` and `To` go through libphonenumber-js (`compliance/phone.ts`,
 * loaded on the first inbound message only: status callbacks, most of the traffic and every cold
 * start's first request in the benchmark, never need it). Each must be an international number
 * its country's plan allows the length of, else the request is refused (400); a number in a
 * range the metadata does not have is still accepted, flagged `valid: false`: a STOP is honoured
 * from any number a customer may have, and the metadata lags new area codes.
 *
 * @module
 */

import * as z from "zod/mini";
import { type ParseResult, safeParse } from "@shared/contract/schemas.ts";
import { MESSAGE_STATUSES } from "@shared/contract/statuses.ts";
import type { PhoneNumberReading } from "@shared/compliance/phone.ts";

const sid = (prefix: string) =>
  z.string().check(
    z.regex(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), { error: `must be a ${prefix} sid` }),
  );

const messageSid = () =>
  z.string().check(z.regex(/^(SM|MM)[0-9a-fA-F]{32}$/, { error: "must be a message sid" }));

const optionalText = () => z.optional(z.string());

/** Digits as a number (`NumMedia`, `NumSegments`). */
const count = () => z.optional(z.pipe(z.string().check(z.regex(/^\d+$/)), z.transform(Number)));

/** Twilio's message status callback (form fields), unknown fields kept. */
export const twilioStatusCallbackSchema = /* @__PURE__ */ z.looseObject({
  MessageSid: messageSid(),
  MessageStatus: z.enum(MESSAGE_STATUSES, { error: "unknown message status" }),
  AccountSid: sid("AC"),
  From: optionalText(),
  To: optionalText(),
  // Twilio sends ErrorCode as digits, and some callbacks carry it empty.
  ErrorCode: z.optional(
    z.pipe(
      z.string().check(z.regex(/^\d*$/, { error: "must be digits" })),
      z.transform((value) => (value === "" ? undefined : Number(value))),
    ),
  ),
  ErrorMessage: optionalText(),
  MessagingServiceSid: z.optional(sid("MG")),
  SmsSid: optionalText(),
  SmsStatus: optionalText(),
  ApiVersion: optionalText(),
  RawDlrDoneDate: optionalText(),
});

/** Twilio's inbound message webhook (form fields), unknown fields kept. */
export const twilioInboundMessageSchema = /* @__PURE__ */ z.looseObject({
  MessageSid: messageSid(),
  AccountSid: sid("AC"),
  From: z.string().check(z.minLength(1, { error: "must not be empty" })),
  To: z.string().check(z.minLength(1, { error: "must not be empty" })),
  Body: z._default(z.string(), ""),
  NumMedia: count(),
  NumSegments: count(),
  MessagingServiceSid: z.optional(sid("MG")),
  // Set by Twilio's Advanced Opt-Out when the body matched one of its keywords.
  OptOutType: z.optional(z.enum(["STOP", "START", "HELP"])),
  SmsStatus: optionalText(),
});

/** A parsed Twilio status callback. */
export type TwilioStatusCallback = z.output<typeof twilioStatusCallbackSchema>;
/** A parsed Twilio inbound message. */
export type TwilioInboundMessage = z.output<typeof twilioInboundMessageSchema>;

/** Webhook parameters as Twilio posts them: a form or a plain object of strings. */
export type WebhookParams = URLSearchParams | Record<string, unknown>;

function toRecord(params: unknown): unknown {
  if (params instanceof URLSearchParams) {
    const record: Record<string, string> = {};
    // Twilio never repeats a field; if one is repeated, the first value wins.
    for (const [key, value] of params) if (!(key in record)) record[key] = value;
    return withoutNul(record);
  }
  return typeof params === "object" && params !== null && !Array.isArray(params)
    ? withoutNul(params as Record<string, unknown>)
    : params;
}

/**
 * Makes every text value storable: drops U+0000 (Postgres text and jsonb cannot hold it, and a
 * reply's meaning never depends on it: "STOP\0" is still STOP) and replaces a lone surrogate
 * (possible in a JSON body) with U+FFFD, which jsonb would refuse. The signature was checked on
 * the raw request already.
 */
function withoutNul(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).map((
      [k, v],
    ) => [k, typeof v === "string" ? v.replaceAll("\u0000", "").toWellFormed() : v]),
  );
}

/** A Twilio webhook, classified; an inbound message with what its numbers are. */
export type TwilioWebhook =
  | { kind: "status"; data: TwilioStatusCallback }
  | {
    kind: "inbound";
    data: TwilioInboundMessage;
    numbers: { from: PhoneNumberReading; to: PhoneNumberReading };
  };

let phoneModule: Promise<typeof import("@shared/compliance/phone.ts")> | null = null;

/** libphonenumber, imported on first use (status callbacks never need it). */
const loadPhone = () => phoneModule ??= import("@shared/compliance/phone.ts");

/** Reads an inbound message's `From` and `To`; refuses what is not a phone number at all. */
async function readNumbers(
  message: TwilioInboundMessage,
): Promise<ParseResult<{ from: PhoneNumberReading; to: PhoneNumberReading }>> {
  const { readPhone } = await loadPhone();
  const from = readPhone(message.From);
  const to = readPhone(message.To);
  if (from && to) return { ok: true, data: { from, to } };
  const fieldErrors: Record<string, string[]> = {};
  if (!from) fieldErrors.From = ["must be a phone number"];
  if (!to) fieldErrors.To = ["must be a phone number"];
  return {
    ok: false,
    code: "invalid_request",
    message: Object.keys(fieldErrors).map((field) => `${field} must be a phone number`).join("; "),
    fieldErrors,
  };
}

/**
 * Parses a Twilio webhook and tells a status callback from an inbound message: inbound messages
 * carry `SmsStatus=received` (or a `Body` without `MessageStatus`). Never rejects for any input.
 */
export async function parseTwilioWebhook(
  params: WebhookParams | unknown,
): Promise<ParseResult<TwilioWebhook>> {
  let record: unknown;
  try {
    record = toRecord(params);
  } catch {
    record = undefined;
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return safeParse(twilioStatusCallbackSchema, record) as ParseResult<never>;
  }
  let inbound: boolean;
  try {
    const r = record as Record<string, unknown>;
    inbound = r.SmsStatus === "received" || r.MessageStatus === "received" ||
      ("Body" in r && !("MessageStatus" in r));
  } catch {
    inbound = false;
  }
  if (inbound) {
    const result = safeParse(twilioInboundMessageSchema, record);
    if (!result.ok) return result;
    const numbers = await readNumbers(result.data);
    if (!numbers.ok) return numbers;
    return { ok: true, data: { kind: "inbound", data: result.data, numbers: numbers.data } };
  }
  const result = safeParse(twilioStatusCallbackSchema, record);
  return result.ok ? { ok: true, data: { kind: "status", data: result.data } } : result;
}
