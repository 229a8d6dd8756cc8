/**
 * send-sms: verify the user, validate the request, load the customer as the user (RLS), decide
 * send-now or defer, and either queue the message or send it through Twilio and record the
 * outcome. Every refusal happens before anything is written.
 */
import type { Verifier } from "@shared/runtime/auth.ts";
import { asService, type Db, rpcRefusal, type Sql } from "@shared/runtime/db.ts";
import { errorBody, isSmsError, parseError, SmsError } from "@shared/contract/errors.ts";
import { connectedSql, type FunctionDeps, type FunctionHandler } from "@shared/runtime/function.ts";
import { jsonResponse, parseJson, readBody } from "@shared/runtime/http.ts";
import type { Logger } from "@shared/runtime/log.ts";
import {
  checkMessageLength,
  measureMessage,
  type MessageLimits,
} from "@shared/contract/message-limits.ts";
import { applyProviderError, recordSendFailure } from "@shared/store.ts";
import { FREQUENCY_CAP_LOOKBACK_MS } from "@shared/compliance/frequency-cap.ts";
import { assertSendable, decideSend, type SendCustomer } from "@shared/compliance/send-decision.ts";
import { describePhone } from "@shared/compliance/phone.ts";
import { type TwilioClient, TwilioSendError } from "@shared/twilio/client.ts";
import { retryDelayMs } from "@shared/twilio/errors.ts";
import type { SendSmsDeferredResponse, SendSmsSentResponse } from "@shared/contract/schemas.ts";
import { parseSendSmsRequest, TWILIO_MAX_BODY_CHARS } from "@shared/contract/schemas.ts";

import {
  type Answer,
  claimKey,
  claimOutcome,
  completeIdempotencyKey,
  type IdempotencyKey,
  requestHash,
} from "@shared/idempotency-store.ts";
import {
  completedAnswer,
  type CustomerRow,
  enqueueRetry,
  finishSend,
  loadSendContext,
  releaseIdempotencyKey,
  releaseSendGuard,
  type SendContext,
  startSend,
} from "./store.ts";

/** Options of {@link createSendSmsHandler}. */
export interface SendSmsHandlerOptions {
  verify: Verifier;
  limits?: MessageLimits;
  /** Largest request body accepted (default 16 KiB). */
  maxBodyBytes?: number;
  /** How long a duplicate request waits for the first one's answer (default 20 s). */
  idempotencyWaitMs?: number;
  /** SMS a business may send per rolling 24 h unless it has its own limit (default 1000). */
  dailyQuota?: number;
}

/** Default per-business SMS per rolling 24 h (`SMS_DAILY_QUOTA`). */
export const DEFAULT_DAILY_QUOTA = 1000;

interface SendRequest {
  customerId: string;
  body: string;
  idempotencyKey?: string;
}

/** What the write transaction did: deferred the message, or logged it for sending now. */
type Written =
  | { deferred: { status: number; body: SendSmsDeferredResponse } }
  | { sendLog: { id: string; to_phone: string }; validityPeriod: number };

async function parseRequest(
  req: Request,
  options: SendSmsHandlerOptions,
  limits: MessageLimits,
) {
  const input = parseJson(await readBody(req, { maxBytes: options.maxBodyBytes ?? 16_384 }));
  const parsed = parseSendSmsRequest(input, { maxChars: TWILIO_MAX_BODY_CHARS });
  if (!parsed.ok) {
    const raw = (input as { body?: unknown } | null)?.body;
    if (parsed.code === "message_too_long" && typeof raw === "string") {
      throw checkMessageLength(raw.trim(), limits) ?? parseError(parsed);
    }
    throw parseError(parsed);
  }
  const tooLong = checkMessageLength(parsed.data.body, limits);
  if (tooLong) throw tooLong;
  return parsed.data as SendRequest;
}

const asSendCustomer = (c: CustomerRow): SendCustomer => ({
  phone: c.phone,
  number: c.phone ? describePhone(c.phone) : null,
  phoneStatus: c.phone_status,
  consentStatus: c.sms_consent_status,
  timeZone: c.time_zone,
  state: c.us_state,
  allowedCountries: c.allowed_countries,
});

/**
 * Claims the key, or returns the first request's answer. A duplicate that arrives while the
 * first is still running waits for it, so concurrent duplicates send one SMS and all get the
 * same answer.
 */
async function claimOrReplay(
  sql: Sql,
  key: IdempotencyKey,
  waitMs: number,
): Promise<Answer | null> {
  const deadline = Date.now() + waitMs;
  while (true) {
    const outcome = claimOutcome(await claimKey(sql, key), key);
    if (outcome !== "in_progress") return outcome;
    if (Date.now() > deadline) {
      throw new SmsError(
        "idempotency_conflict",
        "A request with this idempotency key is still in progress; retry later",
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends a message whose log is written (and committed) as `sending`; records the outcome. */
async function sendNow(
  sql: Sql,
  twilio: TwilioClient,
  ctx: {
    customer: CustomerRow;
    request: SendRequest;
    log: { id: string; to_phone: string };
    userId: string;
    validityPeriod: number;
    key: IdempotencyKey | null;
    now: () => Date;
    logger: Logger;
  },
): Promise<Answer> {
  const { customer, request, userId, log } = ctx;
  const measured = measureMessage(request.body, { smartEncoding: twilio.config.smartEncoded });
  try {
    const sent = await twilio.sendMessage({
      to: log.to_phone,
      body: request.body,
      validityPeriod: ctx.validityPeriod,
    });
    const answer: { status: number; body: SendSmsSentResponse } = {
      status: 200,
      body: {
        status: "sent",
        sendLogId: log.id,
        providerMessageId: sent.sid,
        segments: sent.segments,
        encoding: measured.encoding,
      },
    };
    await finishSend(sql, { sendLogId: log.id, sent, key: ctx.key, answer });
    ctx.logger.info("sent", { sendLogId: log.id, sid: sent.sid, segments: sent.segments });
    return answer;
  } catch (error) {
    if (!(error instanceof TwilioSendError)) throw error;
    const c = error.classification;
    ctx.logger.warn("twilio_refused", {
      sendLogId: log.id,
      twilioCode: c.code,
      httpStatus: c.httpStatus,
      retryable: c.retryable,
      uncertain: c.outcomeUncertain,
    });
    if (c.retryable || c.outcomeUncertain) {
      const deferred = await asService(sql, async (tx) => {
        const body = await enqueueRetry(tx, {
          customerId: customer.id,
          body: request.body,
          reason: c.deferReason ?? "provider_unavailable",
          scheduledFor: new Date(ctx.now().getTime() + retryDelayMs(1)),
          sendLogId: log.id,
          segments: measured.segments,
          encoding: measured.encoding,
          userId,
          lastError: c.description,
          lastErrorCode: c.code,
          outcomeUncertain: c.outcomeUncertain,
        });
        const answer = { status: 202, body };
        await completeIdempotencyKey(tx, ctx.key, answer, log.id);
        return answer;
      }).catch(async (e) => {
        // The customer opted out (or lost their number) while Twilio refused the message: it
        // is not queued, and Twilio never took it, so its log ends failed with that reason
        // rather than staying 'sending' with nothing left to finish it.
        const refused = c.outcomeUncertain ? null : rpcRefusal(e);
        if (!refused) throw e;
        await asService(sql, async (tx) => {
          await recordSendFailure(tx, log.id, c.code, refused.code);
          await releaseSendGuard(tx, log.id);
        });
        throw refused;
      });
      return deferred;
    }
    // Permanent: the log fails, the error's effect lands (opt-out, phone status, alerts).
    const refusal = new SmsError(c.errorCode, error.message, {
      details: { twilioCode: c.code, moreInfo: error.moreInfo },
    });
    await asService(sql, async (tx) => {
      await recordSendFailure(tx, log.id, c.code, c.description);
      await releaseSendGuard(tx, log.id);
      await applyProviderError(tx, { sendLogId: log.id, classification: c });
      await completeIdempotencyKey(tx, ctx.key, {
        status: refusal.status,
        body: errorBody(refusal.code, refusal.message, refusal.details),
      }, log.id);
    });
    throw refusal;
  }
}

// A decision whose context changed under it is made again, a few times at most.
const MAX_DECISIONS = 5;

/**
 * Decides send-now or defer on what was read, and writes the outcome with start_send, which
 * takes the quota and send locks and refuses (send_context_changed) if what the decision read no
 * longer holds; then the decision is made again on a fresh read.
 */
async function writeDecision(
  sql: Sql,
  a: {
    context: SendContext;
    /** The context as the decision takes it (its number parsed once per read). */
    sendCustomer: SendCustomer;
    request: SendRequest;
    userId: string;
    key: IdempotencyKey | null;
    quota: number;
    now: () => Date;
    maxValidityPeriod: number;
    limits: MessageLimits;
  },
): Promise<Written> {
  const measured = measureMessage(a.request.body, a.limits);
  let context = a.context;
  let sendCustomer = a.sendCustomer;
  for (let i = 1;; i++) {
    const decision = decideSend(sendCustomer, {
      now: a.now(),
      recentSends: context.recentSends,
      maxValidityPeriod: a.maxValidityPeriod,
    });
    const defer = decision.kind === "defer" ? decision : null;
    const start = (db: Db) =>
      startSend(db, {
        customerId: context.id,
        userId: a.userId,
        fingerprint: context.fingerprint,
        since: context.since,
        segments: measured.segments,
        encoding: measured.encoding,
        quota: a.quota,
        body: a.request.body,
        deferred: defer ? { reason: defer.reason, scheduledFor: defer.scheduledFor } : null,
        receipt: decision.kind === "send" ? decision.receipt : null,
      });
    try {
      if (decision.kind === "send") {
        const row = await start(sql);
        return {
          sendLog: { id: row.send_log_id, to_phone: row.to_phone },
          validityPeriod: decision.validityPeriod,
        };
      }
      const deferral = async (db: Db): Promise<Written> => {
        const row = await start(db);
        const body: SendSmsDeferredResponse = {
          status: "deferred",
          sendLogId: row.send_log_id,
          retryId: row.retry_id,
          reason: decision.reason,
          scheduledFor: new Date(row.scheduled_for).toISOString(),
        };
        const deferred = { status: 202, body };
        await completeIdempotencyKey(db, a.key, deferred, body.sendLogId);
        return { deferred };
      };
      // With a key, the deferral's answer is stored under it in the same transaction.
      return a.key ? await asService(sql, deferral) : await deferral(sql);
    } catch (error) {
      if (!isContextChanged(error) || i >= MAX_DECISIONS) throw error;
    }
    const fresh = await loadSendContext(sql, {
      customerId: context.id,
      userId: a.userId,
      since: context.since,
    });
    if (!fresh) throw new SmsError("customer_not_found", "Customer not found");
    context = fresh;
    sendCustomer = asSendCustomer(fresh);
  }
}

const isContextChanged = (error: unknown) =>
  (error as { message?: unknown })?.message === "send_context_changed";

/** Builds the send-sms handler around its clients. */
export function createSendSmsHandler(
  deps: FunctionDeps,
  options: SendSmsHandlerOptions,
): FunctionHandler {
  return async (req, log) => {
    const user = await options.verify(req.headers.get("authorization"));
    const twilio = deps.twilio;
    if (!twilio) throw new SmsError("sms_disabled", "SMS is not configured for this project");
    // Counted as Twilio will count them: with Smart Encoding when the sends ask for it.
    const limits = { smartEncoding: twilio.config.smartEncoded, ...options.limits };
    const request = await parseRequest(req, options, limits);
    const sql = await connectedSql(deps);

    const since = new Date(deps.now().getTime() - FREQUENCY_CAP_LOOKBACK_MS);
    const context = await loadSendContext(sql, {
      customerId: request.customerId,
      userId: user.id,
      since,
    });
    // Another business's customer is invisible: the same answer as a missing one.
    if (!context) throw new SmsError("customer_not_found", "Customer not found");
    const customer: CustomerRow = context;
    const sendCustomer = asSendCustomer(customer);

    const key: IdempotencyKey | null = request.idempotencyKey
      ? {
        businessId: customer.business_id,
        key: request.idempotencyKey,
        hash: await requestHash([request.customerId, request.body]),
        userId: user.id,
      }
      : null;
    try {
      // CTIA: the answer to HELP names a contact; a business without one sends nothing.
      if (!context.helpContact) {
        throw new SmsError(
          "help_contact_missing",
          "This business has no SMS help contact; add one before sending SMS",
        );
      }
      assertSendable(sendCustomer);
    } catch (refusal) {
      // A repeat of a request that was already answered gets that answer, even when the
      // customer opted out (or lost their number) since: the first message may be out.
      const first = key ? await completedAnswer(sql, key) : null;
      if (first) return jsonResponse(first.status, first.body);
      throw refusal;
    }
    if (key) {
      const replay = await claimOrReplay(sql, key, options.idempotencyWaitMs ?? 20_000);
      if (replay) return jsonResponse(replay.status, replay.body);
    }

    let answer: Answer;
    try {
      const written = await writeDecision(sql, {
        context,
        sendCustomer,
        request,
        userId: user.id,
        key,
        quota: options.dailyQuota ?? DEFAULT_DAILY_QUOTA,
        now: deps.now,
        maxValidityPeriod: twilio.config.validityPeriod,
        limits,
      });
      if ("deferred" in written) {
        log.info("deferred", { reason: written.deferred.body.reason });
        answer = written.deferred;
      } else {
        answer = await sendNow(sql, twilio, {
          customer,
          request,
          log: written.sendLog,
          userId: user.id,
          validityPeriod: written.validityPeriod,
          key,
          now: deps.now,
          logger: log,
        });
      }
    } catch (error) {
      // A refusal found while writing (the customer changed since we read them, or the quota
      // ran out) wrote nothing: free the key so a later request is judged afresh.
      const refusal = isSmsError(error) && !(error instanceof TwilioSendError)
        ? error
        : rpcRefusal(error);
      if (refusal) {
        await releaseIdempotencyKey(sql, key);
        throw refusal;
      }
      // Anything else may have happened after Twilio took the message: the key stays claimed
      // so a retry of the request can never send a second SMS.
      throw error;
    }
    return jsonResponse(answer.status, answer.body);
  };
}
