/**
 * Validators for everything the functions receive, and parsers that never throw: they return
 * either the data or an error code with per-field messages.
 *
 * Hand-written rather than zod: loading zod cost each function about 30 ms of cold start. They
 * keep zod's semantics and its wording where no message of ours replaces it (Twilio's fields).
 *
 * @module
 */

import type { SmsEncoding } from "../text/segments.ts";
import { SmsError } from "./errors.ts";
import { normalizePhone, type NormalizePhoneOptions } from "../compliance/phone.ts";
import { MESSAGE_STATUSES, type MessageStatus } from "./statuses.ts";

/** Why a send was deferred instead of sent (the 202 contract of send-sms). */
export type DeferReason = "quiet_hours" | "frequency_cap" | "provider_unavailable" | "rate_limited";

/** Body of a send-sms request (`parseSendSmsRequest` in `validation.ts` produces it). */
export interface SendSmsRequest {
  customerId: string;
  body: string;
  idempotencyKey?: string;
}

/** 200 answer of send-sms. */
export interface SendSmsSentResponse {
  status: "sent";
  sendLogId: string;
  providerMessageId: string;
  segments: number;
  encoding: SmsEncoding;
}

/** 202 answer of send-sms. */
export interface SendSmsDeferredResponse {
  status: "deferred";
  sendLogId: string;
  retryId: string;
  reason: DeferReason;
  /** ISO 8601 instant. */
  scheduledFor: string;
}

/** Any successful answer of send-sms. */
export type SendSmsResponse = SendSmsSentResponse | SendSmsDeferredResponse;

/** Default soft limit of a message body, in characters (about two segments). */
export const DEFAULT_MAX_BODY_CHARS = 320;
/** Twilio rejects bodies longer than this (error 21617). */
export const TWILIO_MAX_BODY_CHARS = 1600;

/** One thing wrong with an input, at a path relative to the value checked. */
export interface Issue {
  path: string[];
  message: string;
  /** A value over its size limit (an over-long `body` is `message_too_long`). */
  tooBig?: true;
}

/**
 * A validator: returns the (possibly transformed) value and adds what is wrong to `issues`; the
 * value means nothing once an issue was added. It may throw on hostile input (a throwing getter);
 * {@link safeParse} turns that into a result.
 */
export interface Schema<T> {
  check(input: unknown, issues: Issue[]): T;
}

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

// zod's wording for a value of the wrong type (`received Date`, `received NaN`…).
function invalidType(expected: string, input: unknown): string {
  let received: string = typeof input;
  if (typeof input === "number") {
    received = Number.isNaN(input) ? "NaN" : Number.isFinite(input) ? "number" : String(input);
  } else if (input === null) received = "null";
  else if (Array.isArray(input)) received = "array";
  else if (
    typeof input === "object" && Object.getPrototypeOf(input) !== Object.prototype &&
    "constructor" in input && input.constructor
  ) {
    received = (input.constructor as { name: string }).name;
  }
  return `Invalid input: expected ${expected}, received ${received}`;
}

function isObject(input: unknown): input is Record<string, unknown> {
  return typeof input === "object" && input !== null && !Array.isArray(input);
}

/** A string, else `typeError` (zod's wording when not given). */
function isString(input: unknown, issues: Issue[], typeError?: string): input is string {
  if (typeof input === "string") return true;
  issues.push({ path: [], message: typeError ?? invalidType("string", input) });
  return false;
}

/**
 * Length limits, in code points as zod counted them. zod also applied them to a value that failed
 * the string check but has a `length` (an array, a function); so do these, for the same messages.
 */
function checkLength(value: unknown, issues: Issue[], max?: number): void {
  if (value === null || value === undefined) return;
  const length = typeof value === "string"
    ? (max !== undefined && value.length > max ? characterCount(value) : value.length)
    : (value as { length?: unknown }).length as number;
  if (length === undefined) return;
  if (!(length >= 1)) issues.push({ path: [], message: "must not be empty" });
  if (max !== undefined && !(length <= max)) {
    issues.push({ path: [], message: `must be at most ${max} characters`, tooBig: true });
  }
}

function matches(text: string, pattern: RegExp, issues: Issue[], message?: string): void {
  if (!pattern.test(text)) {
    issues.push({ path: [], message: message ?? `Invalid string: must match pattern ${pattern}` });
  }
}

/** `schema`, or `undefined` when the value is. */
function optional<T>(schema: Schema<T>): Schema<T | undefined> {
  return {
    check: (input, issues) => input === undefined ? undefined : schema.check(input, issues),
  };
}

/** A string matching `pattern`, passed through `then` when it does. */
function pattern<T = string>(
  re: RegExp,
  message?: string,
  then: (text: string) => T = (text) => text as T,
): Schema<T> {
  return {
    check(input, issues) {
      if (!isString(input, issues)) return undefined as T;
      const before = issues.length;
      matches(input, re, issues, message);
      return issues.length === before ? then(input) : undefined as T;
    },
  };
}

/** One of `values` (exactly), else `message` or zod's wording. */
function oneOf<const V extends readonly string[]>(values: V, message?: string): Schema<V[number]> {
  const set = new Set<unknown>(values);
  return {
    check(input, issues) {
      if (!set.has(input)) {
        issues.push({
          path: [],
          message: message ??
            `Invalid option: expected one of ${values.map((v) => `"${v}"`).join("|")}`,
        });
      }
      return input as V[number];
    },
  };
}

/**
 * How a field's absence is treated: `required` (the schema decides about `undefined`),
 * `optional` (absent means absent), or `defaulted` (the schema supplies a value, always set).
 */
type Presence = "required" | "optional" | "defaulted";
type Shape = Record<string, [Schema<unknown>, Presence?]>;

/**
 * An object: each field checked in order, issues prefixed with the field's name; a field is in
 * the output when the input has the key (or it is defaulted). `loose` keeps unknown keys (never
 * `__proto__`, which would replace the output's prototype).
 */
function object<T>(shape: Shape, options: { typeError?: string; loose?: boolean } = {}): Schema<T> {
  const keys = Object.keys(shape);
  const known = new Set(keys);
  return {
    check(input, issues) {
      if (!isObject(input)) {
        issues.push({ path: [], message: options.typeError ?? invalidType("object", input) });
        return undefined as T;
      }
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        const [schema, presence = "required"] = shape[key];
        const own: Issue[] = [];
        const value = schema.check(input[key], own);
        for (const issue of own) issues.push({ ...issue, path: [key, ...issue.path] });
        if (presence === "defaulted" || key in input) out[key] = value;
      }
      if (options.loose) {
        for (const key in input) {
          if (!known.has(key) && key !== "__proto__") out[key] = input[key];
        }
      }
      return out as T;
    },
  };
}

/** Builds a message-body schema: trimmed, not empty, at most `maxChars` characters. */
export function createSmsMessageSchema(options: MessageSchemaOptions = {}): Schema<string> {
  const requested = options.maxChars ?? DEFAULT_MAX_BODY_CHARS;
  const max = Number.isFinite(requested)
    ? Math.max(1, Math.min(Math.floor(requested), TWILIO_MAX_BODY_CHARS))
    : TWILIO_MAX_BODY_CHARS;
  return {
    check(input, issues) {
      if (!isString(input, issues, "must be a string")) {
        checkLength(input, issues);
        return "";
      }
      const text = input.trim();
      checkLength(text, issues);
      if (text.includes("\u0000")) {
        // Postgres text cannot hold U+0000, and no SMS needs it.
        issues.push({ path: [], message: "must not contain NUL characters" });
        return text;
      }
      const chars = characterCount(text);
      if (chars > max || text.length > TWILIO_MAX_BODY_CHARS) {
        issues.push({
          path: [],
          message: `must be at most ${max} characters (has ${chars})`,
          tooBig: true,
        });
      }
      return text;
    },
  };
}

/** Message body with the default 320-character soft limit. */
export const smsMessageSchema: Schema<string> = createSmsMessageSchema();

const E164 = /^\+[1-9]\d{7,14}$/;

/** An E.164 phone number (`+` and 8 to 15 digits), as `customers.phone` stores it. */
export const e164PhoneSchema: Schema<string> = {
  check(input, issues) {
    if (isString(input, issues, "must be a string")) {
      matches(input, E164, issues, "must be an E.164 phone number such as +14155552671");
    }
    return input as string;
  },
};

/** Builds a schema that accepts a phone as people type it and outputs E.164. */
export function createPhoneInputSchema(options: NormalizePhoneOptions = {}): Schema<string> {
  return {
    check(input, issues) {
      if (!isString(input, issues, "must be a string")) return "";
      const result = normalizePhone(input, options);
      if (result.ok) return result.e164;
      issues.push({ path: [], message: result.message });
      return "";
    },
  };
}

/** Phone input normalised with US as default country. */
export const phoneInputSchema: Schema<string> = createPhoneInputSchema();

// Any canonical 8-4-4-4-12 uuid, like Postgres's uuid type (seed ids need not be RFC 9562).
const GUID = /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

const customerIdSchema: Schema<string> = {
  check(input, issues) {
    if (isString(input, issues, "must be a uuid")) matches(input, GUID, issues, "must be a uuid");
    return input as string;
  },
};

const idempotencyKeySchema: Schema<string> = {
  check(input, issues) {
    if (!isString(input, issues, "must be a string")) {
      checkLength(input, issues, 255);
      return "";
    }
    const key = input.trim();
    checkLength(key, issues, 255);
    if (key.includes("\u0000")) {
      issues.push({ path: [], message: "must not contain NUL characters" });
    }
    return key;
  },
};

/** Builds the send-sms request schema with the given body limit. */
export function createSendSmsRequestSchema(
  options: MessageSchemaOptions = {},
): Schema<SendSmsRequest> {
  return object<SendSmsRequest>({
    customerId: [customerIdSchema],
    body: [createSmsMessageSchema(options)],
    idempotencyKey: [optional(idempotencyKeySchema), "optional"],
  }, { typeError: "must be a JSON object" });
}

/** The send-sms request schema with the default body limit. */
export const sendSmsRequestSchema: Schema<SendSmsRequest> = createSendSmsRequestSchema();

const sid = (prefix: string) =>
  pattern(new RegExp(`^${prefix}[0-9a-fA-F]{32}$`), `must be a ${prefix} sid`);
const messageSid = pattern(/^(SM|MM)[0-9a-fA-F]{32}$/, "must be a message sid");
const anyText: Schema<string> = {
  check: (input, issues) => (isString(input, issues), input as string),
};
const optionalText: [Schema<unknown>, Presence] = [optional(anyText), "optional"];
const count = optional(pattern(/^\d+$/, undefined, Number));

/** Twilio's message status callback (form fields). */
export interface TwilioStatusCallback {
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
  /** Unknown fields are kept. */
  [field: string]: unknown;
}

/** Twilio's inbound message webhook (form fields). */
export interface TwilioInboundMessage {
  MessageSid: string;
  AccountSid: string;
  From: string;
  To: string;
  /** `""` when absent. */
  Body: string;
  NumMedia?: number;
  NumSegments?: number;
  MessagingServiceSid?: string;
  /** Set by Twilio's Advanced Opt-Out when the body matched one of its keywords. */
  OptOutType?: "STOP" | "START" | "HELP";
  SmsStatus?: string;
  /** Unknown fields are kept. */
  [field: string]: unknown;
}

/** Twilio's message status callback (form fields), unknown fields kept. */
export const twilioStatusCallbackSchema: Schema<TwilioStatusCallback> = object({
  MessageSid: [messageSid],
  MessageStatus: [oneOf(MESSAGE_STATUSES, "unknown message status")],
  AccountSid: [sid("AC")],
  From: optionalText,
  To: optionalText,
  // Twilio sends ErrorCode as digits, and some callbacks carry it empty.
  ErrorCode: [
    optional(pattern(/^\d*$/, "must be digits", (v) => v === "" ? undefined : Number(v))),
    "optional",
  ],
  ErrorMessage: optionalText,
  MessagingServiceSid: [optional(sid("MG")), "optional"],
  SmsSid: optionalText,
  SmsStatus: optionalText,
  ApiVersion: optionalText,
  RawDlrDoneDate: optionalText,
}, { loose: true });

const notEmpty: Schema<string> = {
  check(input, issues) {
    isString(input, issues);
    checkLength(input, issues);
    return input as string;
  },
};

/** Twilio's inbound message webhook (form fields), unknown fields kept. */
export const twilioInboundMessageSchema: Schema<TwilioInboundMessage> = object({
  MessageSid: [messageSid],
  AccountSid: [sid("AC")],
  From: [notEmpty],
  To: [notEmpty],
  Body: [
    { check: (input, issues) => input === undefined ? "" : anyText.check(input, issues) },
    "defaulted",
  ],
  NumMedia: [count, "optional"],
  NumSegments: [count, "optional"],
  MessagingServiceSid: [optional(sid("MG")), "optional"],
  OptOutType: [optional(oneOf(["STOP", "START", "HELP"] as const)), "optional"],
  SmsStatus: optionalText,
}, { loose: true });

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
export function safeParse<T>(schema: Schema<T>, input: unknown): ParseResult<T> {
  const issues: Issue[] = [];
  let data: T;
  try {
    data = schema.check(input, issues);
  } catch {
    return {
      ok: false,
      code: "invalid_request",
      message: "request could not be parsed",
      fieldErrors: { [ROOT]: ["could not be parsed"] },
    };
  }
  if (issues.length === 0) return { ok: true, data };
  const fieldErrors: Record<string, string[]> = {};
  let tooLong = false;
  for (const issue of issues) {
    const path = issue.path.length ? issue.path.join(".") : ROOT;
    (fieldErrors[path] ??= []).push(issue.message);
    if (issue.tooBig && issue.path.length === 1 && issue.path[0] === "body") tooLong = true;
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
