/**
 * zod schemas for everything the functions receive, and parsers that never throw: they return
 * either the data or an error code with per-field messages.
 *
 * @module
 */

import { z } from "zod";
import { SmsError } from "./errors.ts";
import { normalizePhone, type NormalizePhoneOptions } from "./phone.ts";
import { MESSAGE_STATUSES, type SendSmsRequest } from "./types.ts";

/** Default soft limit of a message body, in characters (about two segments). */
export const DEFAULT_MAX_BODY_CHARS = 320;
/** Twilio rejects bodies longer than this (error 21617). */
export const TWILIO_MAX_BODY_CHARS = 1600;

/** Options of the message schemas. */
export interface MessageSchemaOptions {
  /**
   * Soft limit in characters (Unicode code points), 1..1600. Default 320. Twilio's hard limit of
   * 1600 is also enforced on UTF-16 units, which is never less than the code point count.
   */
  maxChars?: number;
}

function characterCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Builds a message-body schema: trimmed, not empty, at most `maxChars` characters. */
export function createSmsMessageSchema(options: MessageSchemaOptions = {}) {
  const requested = options.maxChars ?? DEFAULT_MAX_BODY_CHARS;
  const max = Number.isFinite(requested)
    ? Math.max(1, Math.min(Math.floor(requested), TWILIO_MAX_BODY_CHARS))
    : TWILIO_MAX_BODY_CHARS;
  return z
    .string({ error: "must be a string" })
    .trim()
    .min(1, { error: "must not be empty" })
    .superRefine((text, ctx) => {
      if (text.includes("\u0000")) {
        // Postgres text cannot hold U+0000, and no SMS needs it.
        ctx.addIssue({ code: "custom", input: text, message: "must not contain NUL characters" });
        return;
      }
      const chars = characterCount(text);
      if (chars > max || text.length > TWILIO_MAX_BODY_CHARS) {
        ctx.addIssue({
          code: "too_big",
          origin: "string",
          maximum: max,
          inclusive: true,
          input: text,
          message: `must be at most ${max} characters (has ${chars})`,
        });
      }
    });
}

/** Message body with the default 320-character soft limit. */
export const smsMessageSchema = createSmsMessageSchema();

/** An E.164 phone number (`+` and 8 to 15 digits), as `customers.phone` stores it. */
export const e164PhoneSchema = z.string({ error: "must be a string" }).regex(/^\+[1-9]\d{7,14}$/, {
  error: "must be an E.164 phone number such as +14155552671",
});

/** Builds a schema that accepts a phone as people type it and outputs E.164. */
export function createPhoneInputSchema(options: NormalizePhoneOptions = {}) {
  return z.string({ error: "must be a string" }).transform((value, ctx) => {
    const result = normalizePhone(value, options);
    if (result.ok) return result.e164;
    ctx.addIssue({ code: "custom", message: result.message, input: value });
    return z.NEVER;
  });
}

/** Phone input normalised with US as default country. */
export const phoneInputSchema = createPhoneInputSchema();

/** Builds the send-sms request schema with the given body limit. */
export function createSendSmsRequestSchema(options: MessageSchemaOptions = {}) {
  return z.object({
    // Any canonical 8-4-4-4-12 uuid, like Postgres's uuid type (seed ids need not be RFC 9562).
    customerId: z.guid({ error: "must be a uuid" }),
    body: createSmsMessageSchema(options),
    idempotencyKey: z
      .string({ error: "must be a string" })
      .trim()
      .min(1, { error: "must not be empty" })
      .max(255, { error: "must be at most 255 characters" })
      .refine((key) => !key.includes("\u0000"), { error: "must not contain NUL characters" })
      .optional(),
  }, { error: "must be a JSON object" });
}

/** The send-sms request schema with the default body limit. */
export const sendSmsRequestSchema = createSendSmsRequestSchema();

const sid = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), { error: `must be a ${prefix} sid` });

const optionalText = z.string().optional();

// Twilio sends ErrorCode as digits, and some callbacks carry it empty.
const errorCode = z
  .string()
  .regex(/^\d*$/, { error: "must be digits" })
  .transform((value) => (value === "" ? undefined : Number(value)))
  .optional();

/** Twilio's message status callback (form fields), unknown fields kept. */
export const twilioStatusCallbackSchema = z.looseObject({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, { error: "must be a message sid" }),
  MessageStatus: z.enum(MESSAGE_STATUSES, { error: "unknown message status" }),
  AccountSid: sid("AC"),
  From: optionalText,
  To: optionalText,
  ErrorCode: errorCode,
  ErrorMessage: optionalText,
  MessagingServiceSid: sid("MG").optional(),
  SmsSid: optionalText,
  SmsStatus: optionalText,
  ApiVersion: optionalText,
  RawDlrDoneDate: optionalText,
});

/** Twilio's inbound message webhook (form fields), unknown fields kept. */
export const twilioInboundMessageSchema = z.looseObject({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, { error: "must be a message sid" }),
  AccountSid: sid("AC"),
  From: z.string().min(1, { error: "must not be empty" }),
  To: z.string().min(1, { error: "must not be empty" }),
  Body: z.string().default(""),
  NumMedia: z.string().regex(/^\d+$/).transform(Number).optional(),
  NumSegments: z.string().regex(/^\d+$/).transform(Number).optional(),
  MessagingServiceSid: sid("MG").optional(),
  // Set by Twilio's Advanced Opt-Out when the body matched one of its keywords.
  OptOutType: z.enum(["STOP", "START", "HELP"]).optional(),
  SmsStatus: optionalText,
});

/** A parsed Twilio status callback. */
export type TwilioStatusCallback = z.output<typeof twilioStatusCallbackSchema>;
/** A parsed Twilio inbound message. */
export type TwilioInboundMessage = z.output<typeof twilioInboundMessageSchema>;

/** Outcome of a parser in this module. */
export type ParseResult<T> =
  | { ok: true; data: T }
  | {
    ok: false;
    code: "invalid_request" | "message_too_long";
    message: string;
    /** Messages per field path (`body`, `customerId`, `(root)`…). */
    fieldErrors: Record<string, string[]>;
  };

const ROOT = "(root)";

/**
 * Runs any schema without ever throwing: invalid input (or a schema that throws) becomes an
 * `invalid_request` result; an over-long `body` becomes `message_too_long`.
 */
export function safeParse<T>(schema: z.ZodType<T>, input: unknown): ParseResult<T> {
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(input);
  } catch {
    return {
      ok: false,
      code: "invalid_request",
      message: "request could not be parsed",
      fieldErrors: { [ROOT]: ["could not be parsed"] },
    };
  }
  if (result.success) return { ok: true, data: result.data };
  const fieldErrors: Record<string, string[]> = {};
  let tooLong = false;
  for (const issue of result.error.issues) {
    const path = issue.path.length ? issue.path.map(String).join(".") : ROOT;
    (fieldErrors[path] ??= []).push(issue.message);
    if (issue.code === "too_big" && issue.path.length === 1 && issue.path[0] === "body") {
      tooLong = true;
    }
  }
  const onlyBody = Object.keys(fieldErrors).every((k) => k === "body");
  const code = tooLong && onlyBody ? "message_too_long" : "invalid_request";
  const message = Object.entries(fieldErrors)
    .map(([path, messages]) => (path === ROOT ? messages[0] : `${path} ${messages[0]}`))
    .join("; ");
  return { ok: false, code, message, fieldErrors };
}

/** Parses a send-sms request body (already JSON-decoded). */
export function parseSendSmsRequest(
  input: unknown,
  options: MessageSchemaOptions = {},
): ParseResult<SendSmsRequest> {
  const schema = options.maxChars === undefined
    ? sendSmsRequestSchema
    : createSendSmsRequestSchema(options);
  return safeParse(schema, input);
}

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

/** A Twilio webhook, classified. */
export type TwilioWebhook =
  | { kind: "status"; data: TwilioStatusCallback }
  | { kind: "inbound"; data: TwilioInboundMessage };

/**
 * Parses a Twilio webhook and tells a status callback from an inbound message: inbound messages
 * carry `SmsStatus=received` (or a `Body` without `MessageStatus`).
 */
export function parseTwilioWebhook(params: WebhookParams | unknown): ParseResult<TwilioWebhook> {
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
    return result.ok ? { ok: true, data: { kind: "inbound", data: result.data } } : result;
  }
  const result = safeParse(twilioStatusCallbackSchema, record);
  return result.ok ? { ok: true, data: { kind: "status", data: result.data } } : result;
}

/** Converts a failed {@link ParseResult} into the {@link SmsError} a handler throws or answers. */
export function parseError(result: Extract<ParseResult<unknown>, { ok: false }>): SmsError {
  return new SmsError(result.code, result.message, { fieldErrors: result.fieldErrors });
}
