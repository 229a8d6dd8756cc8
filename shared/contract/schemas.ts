/**
 * The send-sms contract as zod schemas: the request, the 200 and 202 answers and the error body
 * the frontend sees, with their TypeScript types inferred from them; and parsers that never
 * throw: they return either the data or an error code with per-field messages.
 *
 * `zod/mini` (zod 4's functional API, the same core and the same results as `zod`): measured the
 * lighter of the two to load (docs/decisions.md, "One shape: the contract's libraries"). The
 * schemas of phone fields are in `phone.ts` beside this module, so that a function parsing
 * without phone numbers (twilio-webhook) does not load libphonenumber's metadata.
 *
 * @module
 */

import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { ERROR_STATUS, type ParseResult } from "./errors.ts";

export type { ParseResult } from "./errors.ts";

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

/**
 * Builds a message-body schema: trimmed, not empty, no NUL, at most `maxChars` characters (an
 * over-long body is a `too_big` issue, which {@link safeParse} answers as `message_too_long`).
 */
export function createSmsMessageSchema(
  options: MessageSchemaOptions = {},
): z.ZodMiniType<string, unknown> {
  const requested = options.maxChars ?? DEFAULT_MAX_BODY_CHARS;
  const max = Number.isFinite(requested)
    ? Math.max(1, Math.min(Math.floor(requested), TWILIO_MAX_BODY_CHARS))
    : TWILIO_MAX_BODY_CHARS;
  return z.string({ error: "must be a string" }).check(
    z.trim(),
    z.minLength(1, { error: "must not be empty" }),
    z.superRefine((text, ctx) => {
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
    }),
  );
}

/** Message body with the default 320-character soft limit (the seed's name). */
export const smsMessageSchema: z.ZodMiniType<string, unknown> = /* @__PURE__ */
  createSmsMessageSchema();

/** Builds the send-sms request schema with the given body limit. */
export function createSendSmsRequestSchema(options: MessageSchemaOptions = {}) {
  return z.object({
    // Any canonical 8-4-4-4-12 uuid, like Postgres's uuid type (seed ids need not be RFC 9562).
    customerId: z.guid({ error: "must be a uuid" }),
    body: createSmsMessageSchema(options),
    idempotencyKey: z.optional(
      z.string({ error: "must be a string" }).check(
        z.trim(),
        z.minLength(1, { error: "must not be empty" }),
        z.maxLength(255, { error: "must be at most 255 characters" }),
        z.refine((key) => !key.includes("\u0000"), { error: "must not contain NUL characters" }),
      ),
    ),
  }, { error: "must be a JSON object" });
}

/** The send-sms request schema with the default body limit. */
export const sendSmsRequestSchema = /* @__PURE__ */ createSendSmsRequestSchema();

/** Body of a send-sms request, as {@link parseSendSmsRequest} outputs it. */
export type SendSmsRequest = z.output<typeof sendSmsRequestSchema>;

/** Why a send was deferred instead of sent (the 202 contract of send-sms). */
export const deferReasonSchema = /* @__PURE__ */ z.enum([
  "quiet_hours",
  "frequency_cap",
  "provider_unavailable",
  "rate_limited",
]);
/** Why a send was deferred. */
export type DeferReason = z.output<typeof deferReasonSchema>;

/** 200 answer of send-sms. */
export const sendSmsSentResponseSchema = /* @__PURE__ */ z.object({
  status: z.literal("sent"),
  sendLogId: z.guid(),
  /** Twilio's message sid. */
  providerMessageId: z.string().check(z.regex(/^(SM|MM)[0-9a-fA-F]{32}$/)),
  segments: z.int().check(z.positive()),
  encoding: z.enum(["GSM-7", "UCS-2"]),
});
/** 200 answer of send-sms. */
export type SendSmsSentResponse = z.output<typeof sendSmsSentResponseSchema>;

/** 202 answer of send-sms. */
export const sendSmsDeferredResponseSchema = /* @__PURE__ */ z.object({
  status: z.literal("deferred"),
  sendLogId: z.guid(),
  retryId: z.guid(),
  reason: deferReasonSchema,
  /** ISO 8601 instant. */
  scheduledFor: z.iso.datetime(),
});
/** 202 answer of send-sms. */
export type SendSmsDeferredResponse = z.output<typeof sendSmsDeferredResponseSchema>;

/** Any successful answer of send-sms, told apart by `status`. */
export const sendSmsResponseSchema = /* @__PURE__ */ z.discriminatedUnion("status", [
  sendSmsSentResponseSchema,
  sendSmsDeferredResponseSchema,
]);
/** Any successful answer of send-sms. */
export type SendSmsResponse = z.output<typeof sendSmsResponseSchema>;

type ErrorStatusCode = keyof typeof ERROR_STATUS;

/** The error codes of the HTTP contracts (`errors.ts`'s `ERROR_STATUS` gives each its status). */
export const errorCodeSchema = /* @__PURE__ */ z.enum(
  Object.keys(ERROR_STATUS) as [ErrorStatusCode, ...ErrorStatusCode[]],
);
/** An error code of the HTTP contracts. */
export type ErrorCode = z.output<typeof errorCodeSchema>;

/** The JSON error body every function answers with: `{ "error": { "code", "message" } }`. */
export const errorBodySchema = /* @__PURE__ */ z.object({
  error: z.object({
    code: errorCodeSchema,
    message: z.string(),
    /** Machine-readable facts (segment counts, Twilio's code, `fieldErrors`…). */
    details: z.optional(z.record(z.string(), z.unknown())),
  }),
});
/** The JSON error body every function answers with. */
export type ErrorBody = z.output<typeof errorBodySchema>;

const ROOT = "(root)";

// zod's English wording where a schema gives no message of its own ("Invalid input: expected
// string, received number"), per parse: zod/mini sets no locale, and a global `z.config` would
// reach into the zod of an app that imports this module. The locale's own module, so that a
// browser bundle carries English only (`z.locales` would bring zod's 64 locales, 340 KB).
const PARSE_CONTEXT = { error: /* @__PURE__ */ en().localeError };

/**
 * Runs any schema without ever throwing: invalid input (or a schema that throws) becomes an
 * `invalid_request` result; an over-long `body` becomes `message_too_long`.
 */
export function safeParse<T>(schema: z.ZodMiniType<T>, input: unknown): ParseResult<T> {
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(input, PARSE_CONTEXT);
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

// Request schemas by body limit: building one costs about as much as a parse (send-sms parses
// with Twilio's limit on every request).
const requestSchemas = new Map<number, typeof sendSmsRequestSchema>();

/** Parses a send-sms request body (already JSON-decoded). */
export function parseSendSmsRequest(
  input: unknown,
  options: MessageSchemaOptions = {},
): ParseResult<SendSmsRequest> {
  const maxChars = options.maxChars;
  let schema = sendSmsRequestSchema;
  if (maxChars !== undefined) {
    schema = requestSchemas.get(maxChars) ?? createSendSmsRequestSchema(options);
    if (requestSchemas.size < 16) requestSchemas.set(maxChars, schema);
  }
  return safeParse(schema, input);
}
