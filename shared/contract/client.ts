/**
 * The frontend's way to call send-sms: the same validation as the function (so a user sees
 * `message_too_long` before anything is sent), then `supabase.functions.invoke("send-sms")`,
 * and a typed result or a typed error — never an exception for an answer the contract defines.
 *
 * @module
 */
import { checkMessageLength, type MessageLimits } from "./message-limits.ts";
import { ERROR_STATUS, type ErrorCode } from "./errors.ts";
import {
  parseSendSmsRequest,
  type SendSmsRequest,
  type SendSmsResponse,
  TWILIO_MAX_BODY_CHARS,
} from "./schemas.ts";

/** The part of a supabase-js client this helper uses. */
export interface FunctionsClient {
  functions: {
    invoke(
      name: string,
      options: { body: Record<string, unknown> },
    ): Promise<{ data: unknown; error: unknown }>;
  };
}

/** A contract error, as the function answered it (or as client-side validation found it). */
export interface SendSmsError {
  code: ErrorCode;
  /** HTTP status (0 when the request never reached the function). */
  status: number;
  message: string;
  details?: Record<string, unknown>;
}

/** The typed outcome of {@link sendSms}. */
export type SendSmsOutcome =
  | { ok: true; data: SendSmsResponse }
  | { ok: false; error: SendSmsError };

const fail = (error: SendSmsError): SendSmsOutcome => ({ ok: false, error });

async function errorFrom(error: unknown): Promise<SendSmsError> {
  // supabase-js's FunctionsHttpError keeps the Response in `context`.
  const context = (error as { context?: unknown })?.context;
  if (context instanceof Response) {
    const status = context.status;
    try {
      const body = await context.clone().json() as {
        error?: { code?: string; message?: string; details?: Record<string, unknown> };
      };
      const code = body?.error?.code;
      if (typeof code === "string" && code in ERROR_STATUS) {
        return {
          code: code as ErrorCode,
          status,
          message: body.error?.message ?? code,
          ...(body.error?.details ? { details: body.error.details } : {}),
        };
      }
    } catch {
      // not our JSON shape: a gateway error, handled below
    }
    return {
      code: status === 401 ? "unauthorized" : "internal",
      status,
      message: `send-sms answered ${status}`,
    };
  }
  return { code: "internal", status: 0, message: "send-sms could not be reached" };
}

/**
 * Sends (or defers) one SMS as the signed-in user of `supabase`.
 *
 * @example
 * const r = await sendSms(supabase, { customerId, body: "Thanks for visiting!" });
 * if (r.ok && r.data.status === "sent") showSent(r.data.providerMessageId);
 * else if (!r.ok) showError(r.error.code, r.error.message);
 */
export async function sendSms(
  supabase: FunctionsClient,
  params: SendSmsRequest,
  options: { limits?: MessageLimits } = {},
): Promise<SendSmsOutcome> {
  const parsed = parseSendSmsRequest(params, { maxChars: TWILIO_MAX_BODY_CHARS });
  if (!parsed.ok) {
    const raw = (params as { body?: unknown })?.body;
    const tooLong = parsed.code === "message_too_long" && typeof raw === "string"
      ? checkMessageLength(raw.trim(), options.limits)
      : null;
    const e = tooLong ?? { code: parsed.code, message: parsed.message, details: undefined };
    return fail({
      code: e.code,
      status: ERROR_STATUS[e.code],
      message: e.message,
      ...(e.details ? { details: e.details } : { details: { fieldErrors: parsed.fieldErrors } }),
    });
  }
  const tooLong = checkMessageLength(parsed.data.body, options.limits);
  if (tooLong) {
    return fail({
      code: tooLong.code,
      status: tooLong.status,
      message: tooLong.message,
      details: tooLong.details,
    });
  }
  const { data, error } = await supabase.functions.invoke("send-sms", { body: { ...parsed.data } });
  if (error) return fail(await errorFrom(error));
  return { ok: true, data: data as SendSmsResponse };
}
