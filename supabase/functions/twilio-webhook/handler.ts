/**
 * twilio-webhook's handler: parse → authorize (Twilio signature) → record → answer TwiML.
 *
 * - Status callbacks record the event once per (MessageSid, MessageStatus), move the send log
 *   only forward, and apply what an `ErrorCode` means (opt-out, phone status, business alert,
 *   filtered content) in the same transaction.
 * - Inbound replies are classified (opt-out, opt-in, help, other) and applied by
 *   `sms.record_inbound_message`; the answer is a confirmation, the help text, or nothing
 *   (`sms.record_inbound_answer`: never to a redelivery or to a keyword Twilio answers, and one
 *   opt-out confirmation per window).
 *
 * Clients come in through {@link FunctionDeps}, so tests can build a handler of their own.
 *
 * @module
 */
import { asService, type Db, type Sql, type Tx } from "@shared/runtime/db.ts";
import { parseError, SmsError } from "@shared/contract/errors.ts";
import { connectedSql, type FunctionDeps, type FunctionHandler } from "@shared/runtime/function.ts";
import { mediaType, parseJson, readBody } from "@shared/runtime/http.ts";
import type { Logger } from "@shared/runtime/log.ts";
import { applyProviderError, type ProviderEffectResult } from "@shared/store.ts";
import { formParams, validateTwilioWebhook } from "@shared/twilio/signature.ts";
import { classifyTwilioError } from "@shared/twilio/errors.ts";
import {
  parseTwilioWebhook,
  type TwilioInboundMessage,
  type TwilioStatusCallback,
} from "./params.ts";
import {
  clip,
  decideInbound,
  hasBodyHash,
  isOurSender,
  maskPhone,
  paramsFromJson,
  publicWebhookUrl,
  statusEventArgs,
  twiml,
  TWIML_CONTENT_TYPE,
  WEBHOOK_MAX_BODY_BYTES,
  type WebhookConfig,
  webhookConfigFromEnv,
} from "./webhook.ts";
import { type ReplyBusiness, replyText } from "./replies.ts";

import { recordInboundAnswer, recordInboundMessage, recordStatusEvent } from "./store.ts";

/** Options of {@link createWebhookHandler}. */
export interface WebhookHandlerOptions {
  /** Largest body accepted, in bytes (default 64 KiB). */
  maxBodyBytes?: number;
}

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

function twimlResponse(message: string | null = null): Response {
  return new Response(twiml(message), {
    status: 200,
    headers: { "content-type": TWIML_CONTENT_TYPE },
  });
}

const forbidden = () => new SmsError("forbidden", "invalid or missing X-Twilio-Signature");

/**
 * Reads and authenticates a webhook request. Returns its parameters (not yet validated against a
 * schema). Order matters: the body must be read (bounded) to check the signature, and nothing is
 * parsed or trusted before the signature holds.
 */
async function authenticate(
  req: Request,
  config: WebhookConfig,
  maxBytes: number,
): Promise<URLSearchParams | Record<string, unknown>> {
  const raw = await readBody(req, { maxBytes });
  const type = mediaType(req);
  const url = publicWebhookUrl(config.webhookUrl, req.url);
  const signature = req.headers.get("x-twilio-signature");
  if (type === JSON_TYPE) {
    // A JSON body is covered only through bodySHA256; without it the signature would cover the
    // URL alone and any body could be replayed under it.
    if (!signature || !hasBodyHash(url)) throw forbidden();
    if (!await validateTwilioWebhook(config.authToken, { signature, url, body: raw })) {
      throw forbidden();
    }
    const params = paramsFromJson(parseJson(raw));
    if (!params) throw new SmsError("invalid_request", "request body must be a JSON object");
    return params;
  }
  if (type === FORM || (type === "" && raw === "")) {
    if (!signature) throw forbidden();
    const ok = await validateTwilioWebhook(config.authToken, {
      signature,
      url,
      params: formParams(raw),
      body: raw,
    });
    if (!ok) throw forbidden();
    return new URLSearchParams(raw);
  }
  throw new SmsError("invalid_request", `unsupported content type ${type || "(none)"}`);
}

async function handleStatus(
  sql: Sql,
  callback: TwilioStatusCallback,
  context: { idempotencyToken: string | null; log: Logger },
): Promise<Response> {
  const args = statusEventArgs(callback, { idempotencyToken: context.idempotencyToken });
  const record = (db: Db) => recordStatusEvent(db, args);
  // Without an error code there is no effect to apply with the event: one security-definer call
  // is a transaction of its own (no begin, role switch or commit around it).
  const code = args.errorCode;
  const { row, effect } = code === null
    ? { row: await record(sql), effect: null }
    : await asService(sql, async (tx: Tx) => {
      const row = await record(tx);
      let effect: ProviderEffectResult | null = null;
      // The effect is applied with the first delivery of the event, in its transaction; a
      // duplicate would only repeat it (a second consent event for one error).
      if (row.send_log_id && !row.duplicate) {
        effect = await applyProviderError(tx, {
          sendLogId: row.send_log_id,
          classification: classifyTwilioError({ code }),
          messageSid: args.messageSid,
        });
      }
      return { row, effect };
    });
  const fields = {
    messageSid: args.messageSid,
    reported: args.status,
    errorCode: args.errorCode,
    duplicate: row.duplicate,
    applied: row.applied,
    logStatus: row.status,
    ...(effect ? { effect } : {}),
  };
  if (row.send_log_id === null) {
    // Kept unattributed: record_send_result links it if the sid is stored later. 200, so
    // Twilio does not retry a callback for a message we may never know.
    context.log.warn("unknown_message_sid", fields);
  } else {
    context.log.info("status_callback", fields);
  }
  return twimlResponse();
}

async function handleInbound(
  sql: Sql,
  message: TwilioInboundMessage,
  context: { config: WebhookConfig; idempotencyToken: string | null; log: Logger },
): Promise<Response> {
  const decision = decideInbound(message, {
    twilioOptOutHandling: context.config.twilioOptOutHandling,
  });
  const logFields = {
    messageSid: message.MessageSid,
    from: maskPhone(message.From),
    kind: decision.kind,
    via: decision.via,
    twilioHandled: decision.twilioHandled,
  };
  if (!isOurSender(context.config, message)) {
    context.log.warn("inbound_for_other_sender", { ...logFields, to: maskPhone(message.To) });
    return twimlResponse();
  }
  const details: Record<string, string> = {
    inbound_message_sid: message.MessageSid,
    body: clip(message.Body, 320),
  };
  if (decision.via) details.via = decision.via;
  if (message.OptOutType) details.opt_out_type = message.OptOutType;
  if (context.idempotencyToken) details.idempotency_token = clip(context.idempotencyToken, 200);

  const { result, reply } = await asService(sql, async (tx: Tx) => {
    const result = await recordInboundMessage(tx, {
      message,
      kind: decision.kind,
      keyword: decision.keyword,
      details,
    });
    const businesses: ReplyBusiness[] = result.businesses.map((b) => ({
      name: b.name,
      helpContact: b.help_contact,
    }));
    const text = replyText(decision.kind, { businesses });
    // A redelivery, a keyword Twilio answered, or a repeated opt-out within the window: nothing.
    const answer = await recordInboundAnswer(tx, {
      messageSid: message.MessageSid,
      from: message.From,
      kind: decision.kind,
      wantsReply: text !== null,
      twilioAnswered: decision.twilioHandled,
      changed: result.changed_customers > 0,
      windowHours: context.config.optOutConfirmationWindowHours,
    });
    return { result, reply: answer ? text : null };
  });
  context.log.info("inbound", {
    ...logFields,
    duplicate: result.duplicate,
    matchedCustomers: result.matched_customers,
    changedCustomers: result.changed_customers,
    cancelledRetries: result.cancelled_retries,
    businesses: result.businesses.map((b) => b.id),
    answered: reply !== null,
  });
  return twimlResponse(reply);
}

/** Builds the handler from the function's clients. */
export function createWebhookHandler(
  deps: FunctionDeps,
  options: WebhookHandlerOptions = {},
): FunctionHandler {
  const maxBytes = options.maxBodyBytes ?? WEBHOOK_MAX_BODY_BYTES;
  return async (req, log) => {
    const config = webhookConfigFromEnv(deps.env);
    if (!config) {
      // Without the token or the public URL no signature can be checked: accept nothing.
      throw new SmsError("sms_disabled", "Twilio webhook is not configured");
    }
    const params = await authenticate(req, config, maxBytes);
    const parsed = await parseTwilioWebhook(params);
    if (!parsed.ok) throw parseError(parsed);
    const sql = await connectedSql(deps);
    const idempotencyToken = req.headers.get("i-twilio-idempotency-token");
    if (parsed.data.kind === "status") {
      return await handleStatus(sql, parsed.data.data, { idempotencyToken, log });
    }
    return await handleInbound(sql, parsed.data.data, { config, idempotencyToken, log });
  };
}
