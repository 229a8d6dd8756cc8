/**
 * send-sms: verify the user, validate the request, load the customer as the user (RLS), decide
 * send-now or defer, and either queue the message or send it through Twilio and record the
 * outcome. Every refusal happens before anything is written.
 */
import type { Verifier } from "@shared/auth.ts";
import { asService, asUser, rpcRefusal, type Sql, type Tx } from "@shared/db.ts";
import { errorBody, isSmsError, SmsError } from "@shared/errors.ts";
import { type FunctionDeps, type FunctionHandler, requireSql } from "@shared/function.ts";
import { jsonResponse, parseJson, readBody } from "@shared/http.ts";
import type { Logger } from "@shared/log.ts";
import { checkMessageLength, measureMessage, type MessageLimits } from "@shared/message-limits.ts";
import { applyProviderError, recordSendResult } from "@shared/provider-effects.ts";
import { assertSendable, decideSend, type SendCustomer } from "@shared/send-decision.ts";
import { type TwilioSender, TwilioSendError } from "@shared/twilio.ts";
import { retryDelayMs } from "@shared/twilio-errors.ts";
import type {
  ConsentStatus,
  DeferReason,
  PhoneStatus,
  SendSmsDeferredResponse,
  SendSmsSentResponse,
} from "@shared/types.ts";
import { parseError, parseSendSmsRequest, TWILIO_MAX_BODY_CHARS } from "@shared/validation.ts";

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

// Takes the business's quota lock until the transaction that writes the log commits.
async function reserveQuota(tx: Tx, businessId: string, quota: number) {
  await tx`select public.reserve_sms_quota(${businessId}::uuid, ${quota}::integer)`;
}

interface CustomerRow {
  id: string;
  business_id: string;
  phone: string | null;
  phone_status: PhoneStatus;
  sms_consent_status: ConsentStatus;
  time_zone: string | null;
  us_state: string | null;
}

interface SendRequest {
  customerId: string;
  body: string;
  idempotencyKey?: string;
}

/** What the write transaction did: deferred the message, or logged it for sending now. */
type Written =
  | { deferred: { status: number; body: SendSmsDeferredResponse } }
  | { sendLog: { id: string; to_phone: string }; validityPeriod: number };

/** A stored or fresh answer. */
interface Answer {
  status: number;
  body: unknown;
}

// Statuses of a log whose message went (or may have gone) to the carrier.
const WENT_OUT = ["queued", "sending", "sent", "delivered", "undelivered", "read"];

async function parseRequest(req: Request, options: SendSmsHandlerOptions) {
  const input = parseJson(await readBody(req, { maxBytes: options.maxBodyBytes ?? 16_384 }));
  const parsed = parseSendSmsRequest(input, { maxChars: TWILIO_MAX_BODY_CHARS });
  if (!parsed.ok) {
    const raw = (input as { body?: unknown } | null)?.body;
    if (parsed.code === "message_too_long" && typeof raw === "string") {
      throw checkMessageLength(raw.trim(), options.limits) ?? parseError(parsed);
    }
    throw parseError(parsed);
  }
  const tooLong = checkMessageLength(parsed.data.body, options.limits);
  if (tooLong) throw tooLong;
  return parsed.data as SendRequest;
}

async function loadCustomer(sql: Sql, claims: Record<string, unknown>, customerId: string) {
  const [customer] = await asUser(sql, claims, (tx) =>
    tx<CustomerRow[]>`
      select id, business_id, phone, phone_status, sms_consent_status, time_zone, us_state
        from public.customers where id = ${customerId}`);
  return customer ?? null;
}

/**
 * When each recent message to this number went out (for the frequency cap), read under the
 * customer's send lock so concurrent sends (here and in process-retries) see each other.
 */
async function lockAndReadRecentSends(tx: Tx, customer: CustomerRow): Promise<Date[]> {
  await tx`select pg_advisory_xact_lock(
             hashtextextended(${"sms_customer_send:" + customer.id}, 0))`;
  const recent = await tx<{ at: Date }[]>`
    select coalesce(
             (select min(e.occurred_at) from public.sms_message_events e
               where e.send_log_id = l.id and e.status in ('sending', 'queued')),
             l.created_at) as at
      from public.send_logs l
     where l.business_id = ${customer.business_id} and l.channel = 'sms'
       and l.to_phone = ${customer.phone} and l.status = any(${WENT_OUT})
       and l.created_at > now() - interval '7 days'`;
  return recent.map((r) => new Date(r.at));
}

const asSendCustomer = (c: CustomerRow): SendCustomer => ({
  phone: c.phone,
  phoneStatus: c.phone_status,
  consentStatus: c.sms_consent_status,
  timeZone: c.time_zone,
  state: c.us_state,
});

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

interface IdempotencyKey {
  businessId: string;
  key: string;
  hash: string;
  userId: string;
}

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
    const [row] = await asService(sql, (tx) =>
      tx<
        {
          claimed: boolean;
          state: string;
          request_hash: string | null;
          response_status: number | null;
          response_body: unknown;
        }[]
      >`select * from public.claim_sms_idempotency_key(
          ${key.businessId}::uuid, ${key.key}, ${key.hash}, ${key.userId}::uuid)`);
    if (row.claimed) return null;
    if (row.request_hash !== key.hash) {
      throw new SmsError(
        "idempotency_conflict",
        "This idempotency key was already used for a different request",
      );
    }
    if (row.state === "completed" && row.response_status !== null) {
      return { status: row.response_status, body: row.response_body };
    }
    if (Date.now() > deadline) {
      throw new SmsError(
        "idempotency_conflict",
        "A request with this idempotency key is still in progress; retry later",
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function completeKey(tx: Tx, key: IdempotencyKey | null, answer: Answer, logId?: string) {
  if (!key) return;
  await tx`select public.complete_sms_idempotency_key(
    ${key.businessId}::uuid, ${key.key}, ${answer.status}::integer,
    ${tx.json(answer.body as never)}, ${logId ?? null}::uuid)`;
}

/** The stored answer of a completed request under this key (read as the user: RLS), or null. */
async function completedAnswer(
  sql: Sql,
  claims: Record<string, unknown>,
  key: IdempotencyKey,
): Promise<Answer | null> {
  const [row] = await asUser(
    sql,
    claims,
    (tx) =>
      tx<{ response_status: number; response_body: unknown }[]>`
      select response_status, response_body from public.sms_idempotency_keys
       where business_id = ${key.businessId} and idempotency_key = ${key.key}
         and state = 'completed' and request_hash = ${key.hash}`,
  );
  return row ? { status: row.response_status, body: row.response_body } : null;
}

async function releaseKey(sql: Sql, key: IdempotencyKey | null) {
  if (!key) return;
  await asService(
    sql,
    (tx) => tx`select public.release_sms_idempotency_key(${key.businessId}::uuid, ${key.key})`,
  );
}

interface EnqueueArgs {
  customerId: string;
  body: string;
  reason: DeferReason;
  scheduledFor: Date;
  sendLogId?: string;
  segments: number;
  encoding: string;
  userId: string;
  lastError?: string | null;
  lastErrorCode?: number | null;
  outcomeUncertain?: boolean;
}

async function enqueue(tx: Tx, a: EnqueueArgs): Promise<SendSmsDeferredResponse> {
  const [row] = await tx<{ retry_id: string; send_log_id: string; scheduled_for: Date }[]>`
    select * from public.enqueue_sms_retry(
      p_customer_id => ${a.customerId}::uuid, p_body => ${a.body}, p_reason => ${a.reason},
      p_scheduled_for => ${a.scheduledFor}, p_send_log_id => ${a.sendLogId ?? null}::uuid,
      p_segments => ${a.segments}::integer, p_encoding => ${a.encoding},
      p_acting_user => ${a.userId}::uuid, p_last_error => ${a.lastError ?? null},
      p_last_error_code => ${a.lastErrorCode ?? null}::integer,
      p_outcome_uncertain => ${a.outcomeUncertain ?? false})`;
  return {
    status: "deferred",
    sendLogId: row.send_log_id,
    retryId: row.retry_id,
    reason: a.reason,
    scheduledFor: new Date(row.scheduled_for).toISOString(),
  };
}

/** Sends a message whose log is written (and committed) as `sending`; records the outcome. */
async function sendNow(
  sql: Sql,
  twilio: TwilioSender,
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
  const measured = measureMessage(request.body);
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
    await asService(sql, async (tx) => {
      await recordSendResult(tx, { sendLogId: log.id, result: sent });
      await completeKey(tx, ctx.key, answer, log.id);
    });
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
        const body = await enqueue(tx, {
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
        await completeKey(tx, ctx.key, answer, log.id);
        return answer;
      }).catch(async (e) => {
        // The customer opted out (or lost their number) while Twilio refused the message: it
        // is not queued, and Twilio never took it, so its log ends failed with that reason
        // rather than staying 'sending' with nothing left to finish it.
        const refused = c.outcomeUncertain ? null : rpcRefusal(e);
        if (!refused) throw e;
        await asService(sql, (tx) =>
          tx`select 1 from public.record_sms_send_result(
            ${log.id}::uuid, null, 'failed', null, ${c.code}::integer, ${refused.code})`);
        throw refused;
      });
      return deferred;
    }
    // Permanent: the log fails, the error's effect lands (opt-out, phone status, alerts).
    const refusal = new SmsError(c.errorCode, error.message, {
      details: { twilioCode: c.code, moreInfo: error.moreInfo },
    });
    await asService(sql, async (tx) => {
      await tx`select 1 from public.record_sms_send_result(
        ${log.id}::uuid, null, 'failed', null, ${c.code}::integer, ${c.description})`;
      await applyProviderError(tx, { sendLogId: log.id, classification: c });
      await completeKey(tx, ctx.key, {
        status: refusal.status,
        body: errorBody(refusal.code, refusal.message, refusal.details),
      }, log.id);
    });
    throw refusal;
  }
}

/** Builds the send-sms handler around its clients. */
export function createSendSmsHandler(
  deps: FunctionDeps,
  options: SendSmsHandlerOptions,
): FunctionHandler {
  return async (req, log) => {
    const user = await options.verify(req.headers.get("authorization"));
    const twilio = deps.twilio;
    if (!twilio) throw new SmsError("sms_disabled", "SMS is not configured for this project");
    const sql = requireSql(deps);
    const request = await parseRequest(req, options);

    const customer = await loadCustomer(sql, user.claims, request.customerId);
    // Another business's customer is invisible under RLS: the same answer as a missing one.
    if (!customer) throw new SmsError("customer_not_found", "Customer not found");

    const key: IdempotencyKey | null = request.idempotencyKey
      ? {
        businessId: customer.business_id,
        key: request.idempotencyKey,
        hash: await sha256(JSON.stringify([request.customerId, request.body])),
        userId: user.id,
      }
      : null;
    try {
      assertSendable(asSendCustomer(customer));
    } catch (refusal) {
      // A repeat of a request that was already answered gets that answer, even when the
      // customer opted out (or lost their number) since: the first message may be out.
      const first = key ? await completedAnswer(sql, user.claims, key) : null;
      if (first) return jsonResponse(first.status, first.body);
      throw refusal;
    }
    if (key) {
      const replay = await claimOrReplay(sql, key, options.idempotencyWaitMs ?? 20_000);
      if (replay) return jsonResponse(replay.status, replay.body);
    }

    const quota = options.dailyQuota ?? DEFAULT_DAILY_QUOTA;
    const measured = measureMessage(request.body);
    let answer: Answer;
    try {
      // Quota, frequency cap and the write happen under the business's quota lock and the
      // customer's send lock, so concurrent sends cannot both take the last slot.
      const written = await asService<Written>(sql, async (tx) => {
        await reserveQuota(tx, customer.business_id, quota);
        const decision = decideSend(asSendCustomer(customer), {
          now: deps.now(),
          recentSends: await lockAndReadRecentSends(tx, customer),
          maxValidityPeriod: twilio.config.validityPeriod,
        });
        if (decision.kind === "defer") {
          const body = await enqueue(tx, {
            customerId: customer.id,
            body: request.body,
            reason: decision.reason,
            scheduledFor: decision.scheduledFor,
            segments: measured.segments,
            encoding: measured.encoding,
            userId: user.id,
          });
          const deferred = { status: 202, body };
          await completeKey(tx, key, deferred, body.sendLogId);
          return { deferred };
        }
        const [sendLog] = await tx<{ id: string; to_phone: string }[]>`
          select id, to_phone from public.create_sms_send_log(
            ${customer.id}::uuid, ${measured.segments}::integer, ${measured.encoding},
            ${user.id}::uuid, 'sending')`;
        return { sendLog, validityPeriod: decision.validityPeriod };
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
        await releaseKey(sql, key);
        throw refusal;
      }
      // Anything else may have happened after Twilio took the message: the key stays claimed
      // so a retry of the request can never send a second SMS.
      throw error;
    }
    return jsonResponse(answer.status, answer.body);
  };
}
