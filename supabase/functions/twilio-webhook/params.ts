/**
 * What Twilio posts to the webhook: a message status callback or an inbound message, unknown
 * fields kept; and {@link parseTwilioWebhook}, which tells them apart and never throws.
 *
 * Checked field by field here rather than with zod: Twilio's form is a dozen flat text fields,
 * and zod/mini in this function's graph cost 58 ms of module loading (81 ms in all with the
 * contract module around it) against a cold-start budget of 100 ms (docs/decisions.md). The
 * answers are the contract's: `invalid_request` with messages per field.
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

import type { ParseResult } from "@shared/contract/errors.ts";
import { MESSAGE_STATUSES, type MessageStatus } from "@shared/contract/statuses.ts";
import type { PhoneNumberReading } from "@shared/compliance/phone.ts";

/** Twilio's message status callback (form fields), unknown fields kept. */
export interface TwilioStatusCallback {
  [field: string]: unknown;
  MessageSid: string;
  MessageStatus: MessageStatus;
  AccountSid: string;
  From?: string;
  To?: string;
  /** Absent, or `undefined` when Twilio sent it empty. */
  ErrorCode?: number;
  ErrorMessage?: string;
  MessagingServiceSid?: string;
  SmsSid?: string;
  SmsStatus?: string;
  ApiVersion?: string;
  RawDlrDoneDate?: string;
}

/** Twilio's inbound message webhook (form fields), unknown fields kept. */
export interface TwilioInboundMessage {
  [field: string]: unknown;
  MessageSid: string;
  AccountSid: string;
  From: string;
  To: string;
  Body: string;
  NumMedia?: number;
  NumSegments?: number;
  MessagingServiceSid?: string;
  /** Set by Twilio's Advanced Opt-Out when the body matched one of its keywords. */
  OptOutType?: "STOP" | "START" | "HELP";
  SmsStatus?: string;
}

type Fields = Record<string, unknown>;
type Errors = Record<string, string[]>;

const sidPattern = (prefix: string) => new RegExp(`^${prefix}[0-9a-fA-F]{32}$`);
const MESSAGE_SID = /^(SM|MM)[0-9a-fA-F]{32}$/;
const ACCOUNT_SID = sidPattern("AC");
const SERVICE_SID = sidPattern("MG");
const DIGITS = /^\d+$/;
const OPT_OUT_TYPES = ["STOP", "START", "HELP"];

/** How a field is checked (absent is fine unless `required`). */
interface Rule {
  required?: boolean;
  ok?: (value: string) => boolean;
  message?: string;
}
const MESSAGE_SID_RULE: Rule = {
  required: true,
  ok: (v) => MESSAGE_SID.test(v),
  message: "must be a message sid",
};
const ACCOUNT_SID_RULE: Rule = {
  required: true,
  ok: (v) => ACCOUNT_SID.test(v),
  message: "must be a AC sid",
};
const SERVICE_SID_RULE: Rule = { ok: (v) => SERVICE_SID.test(v), message: "must be a MG sid" };

/** Reads one field: absent (optional) → undefined; otherwise a string that passes `ok`. */
function field(
  fields: Fields,
  errors: Errors,
  name: string,
  rule: Rule = {},
): string | undefined {
  const value = fields[name];
  if (value === undefined) {
    if (rule.required) (errors[name] ??= []).push("is required");
    return undefined;
  }
  if (typeof value !== "string") {
    (errors[name] ??= []).push("must be a string");
    return undefined;
  }
  if (rule.ok && !rule.ok(value)) (errors[name] ??= []).push(rule.message ?? "is invalid");
  return value;
}

function result<T extends Fields>(data: T, errors: Errors): ParseResult<T> {
  const paths = Object.keys(errors);
  if (paths.length === 0) {
    // An optional field that was absent stays absent.
    for (const key of Object.keys(data)) if (data[key] === undefined) delete data[key];
    return { ok: true, data };
  }
  return {
    ok: false,
    code: "invalid_request",
    message: paths.map((path) => `${path} ${errors[path][0]}`).join("; "),
    fieldErrors: errors,
  };
}

const notRecord = (): ParseResult<never> => ({
  ok: false,
  code: "invalid_request",
  message: "must be an object of form fields",
  fieldErrors: { "(root)": ["must be an object of form fields"] },
});

/** Parses a status callback's fields (already a plain record). */
export function parseStatusCallback(fields: unknown): ParseResult<TwilioStatusCallback> {
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) return notRecord();
  const f = fields as Fields;
  const errors: Errors = {};
  const text = (name: string) => field(f, errors, name);
  const errorCode = field(f, errors, "ErrorCode", {
    // Twilio sends ErrorCode as digits, and some callbacks carry it empty.
    ok: (v) => v === "" || DIGITS.test(v),
    message: "must be digits",
  });
  const data: TwilioStatusCallback = {
    ...f,
    MessageSid: field(f, errors, "MessageSid", MESSAGE_SID_RULE)!,
    MessageStatus: field(f, errors, "MessageStatus", {
      required: true,
      ok: (v) => (MESSAGE_STATUSES as readonly string[]).includes(v),
      message: "unknown message status",
    }) as MessageStatus,
    AccountSid: field(f, errors, "AccountSid", ACCOUNT_SID_RULE)!,
    From: text("From"),
    To: text("To"),
    ErrorCode: errorCode ? Number(errorCode) : undefined,
    ErrorMessage: text("ErrorMessage"),
    MessagingServiceSid: field(f, errors, "MessagingServiceSid", SERVICE_SID_RULE),
    SmsSid: text("SmsSid"),
    SmsStatus: text("SmsStatus"),
    ApiVersion: text("ApiVersion"),
    RawDlrDoneDate: text("RawDlrDoneDate"),
  };
  return result(data, errors);
}

/** Parses an inbound message's fields (already a plain record). */
export function parseInboundMessage(fields: unknown): ParseResult<TwilioInboundMessage> {
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) return notRecord();
  const f = fields as Fields;
  const errors: Errors = {};
  const count = (name: string) => {
    const value = field(f, errors, name, { ok: (v) => DIGITS.test(v), message: "must be digits" });
    return value === undefined ? undefined : Number(value);
  };
  const notEmpty = {
    required: true,
    ok: (v: string) => v.length > 0,
    message: "must not be empty",
  };
  const data: TwilioInboundMessage = {
    ...f,
    MessageSid: field(f, errors, "MessageSid", MESSAGE_SID_RULE)!,
    AccountSid: field(f, errors, "AccountSid", ACCOUNT_SID_RULE)!,
    From: field(f, errors, "From", notEmpty)!,
    To: field(f, errors, "To", notEmpty)!,
    Body: field(f, errors, "Body") ?? "",
    NumMedia: count("NumMedia"),
    NumSegments: count("NumSegments"),
    MessagingServiceSid: field(f, errors, "MessagingServiceSid", SERVICE_SID_RULE),
    OptOutType: field(f, errors, "OptOutType", {
      ok: (v) => OPT_OUT_TYPES.includes(v),
      message: "must be STOP, START or HELP",
    }) as TwilioInboundMessage["OptOutType"],
    SmsStatus: field(f, errors, "SmsStatus"),
  };
  return result(data, errors);
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
    return notRecord();
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
    const result = parseInboundMessage(record);
    if (!result.ok) return result;
    const numbers = await readNumbers(result.data);
    if (!numbers.ok) return numbers;
    return { ok: true, data: { kind: "inbound", data: result.data, numbers: numbers.data } };
  }
  const result = parseStatusCallback(record);
  return result.ok ? { ok: true, data: { kind: "status", data: result.data } } : result;
}
