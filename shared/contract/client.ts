/**
 * The frontend's way to call send-sms and campaigns: the same validation as the function (so a
 * user sees `message_too_long` or `unknown_template_variable` before anything is sent), then
 * `supabase.functions.invoke`, and a typed result or a typed error — never an exception for an
 * answer the contract defines.
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
import {
  type CampaignRequestInput,
  type CampaignResponseFor,
  parseCampaignRequest,
} from "./campaigns.ts";
import { parseTemplate } from "../campaign/template.ts";

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

async function errorFrom(error: unknown, fn: string): Promise<SendSmsError> {
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
      message: `${fn} answered ${status}`,
    };
  }
  return { code: "internal", status: 0, message: `${fn} could not be reached` };
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
  if (error) return fail(await errorFrom(error, "send-sms"));
  return { ok: true, data: data as SendSmsResponse };
}

/** A contract error of the campaigns function (the same shape as send-sms's). */
export type CampaignsError = SendSmsError;

/** The typed outcome of {@link campaigns} for a request whose action is `A`. */
export type CampaignsOutcome<A extends CampaignRequestInput["action"]> =
  | { ok: true; data: CampaignResponseFor<A> }
  | { ok: false; error: CampaignsError };

/**
 * Previews, creates, pauses, resumes or cancels a campaign as the signed-in user of `supabase`;
 * the answer's type follows the request's `action`.
 *
 * @example
 * const r = await campaigns(supabase, {
 *   action: "preview", businessId, template: "Hi {{first_name|there}}, 20% off today!",
 *   audience: { filter: { states: ["NY"] } }, schedule: { kind: "local", date, time: "10:00" },
 * });
 * if (r.ok) showEstimate(r.data.eligible, r.data.cost.total, r.data.samples);
 * else showError(r.error.code, r.error.message);
 */
export async function campaigns<R extends CampaignRequestInput>(
  supabase: FunctionsClient,
  request: R,
): Promise<CampaignsOutcome<R["action"]>> {
  const parsed = parseCampaignRequest(request);
  if (!parsed.ok) {
    return {
      ok: false,
      error: {
        code: parsed.code,
        status: ERROR_STATUS[parsed.code],
        message: parsed.message,
        details: { fieldErrors: parsed.fieldErrors },
      },
    };
  }
  const body = parsed.data;
  if (body.action === "preview" || body.action === "create") {
    const template = parseTemplate(body.template);
    if (!template.ok) {
      return {
        ok: false,
        error: {
          code: "unknown_template_variable",
          status: ERROR_STATUS.unknown_template_variable,
          message: `Unknown template placeholder${template.unknown.length > 1 ? "s" : ""}: ` +
            template.unknown.map((name) => `{{${name}}}`).join(", "),
          details: { unknown: template.unknown },
        },
      };
    }
  }
  const { data, error } = await supabase.functions.invoke("campaigns", { body: { ...body } });
  if (error) return { ok: false, error: await errorFrom(error, "campaigns") };
  return { ok: true, data: data as CampaignResponseFor<R["action"]> };
}
