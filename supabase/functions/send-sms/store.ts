/**
 * send-sms's SQL: the customer's send context (read as a member), the idempotency key's answer and release,
 * the one write that starts a send or defers it, and the deferral of a send Twilio refused for now.
 * Each call is one statement; the handler decides the transactions.
 *
 * @module
 */
import type { ComplianceReceipt } from "@shared/compliance/receipt.ts";
import type { ConsentStatus, PhoneStatus } from "@shared/compliance/consent.ts";
import { TWILIO_REQUEST_TIMEOUT_MS } from "@shared/twilio/client.ts";
import type { DeferReason, SendSmsDeferredResponse } from "@shared/contract/schemas.ts";
import {
  asService,
  type Db,
  params,
  type RpcRow,
  type Sql,
  type TableRow,
} from "@shared/runtime/db.ts";
import {
  type Answer,
  completeIdempotencyKey,
  type IdempotencyKey,
} from "@shared/idempotency-store.ts";
import { type AcceptedSend, isProviderErrorPending, recordSendResult } from "@shared/store.ts";

/** What `sms.send_context` returns: the customer and the recent sends to their number. */
export type SendContextRow = RpcRow<"sms", "send_context", {
  phone: string | null;
  phone_status: PhoneStatus;
  sms_consent_status: ConsentStatus;
  time_zone: string | null;
  us_state: string | null;
  recent_sends: (Date | string)[];
  help_contact: string | null;
  allowed_countries: string[];
}>;

/** The customer a decision is about. */
export type CustomerRow =
  & Omit<
    SendContextRow,
    "customer_id" | "recent_sends" | "fingerprint" | "help_contact"
  >
  & {
    id: string;
  };

/** What a decision was made on. */
export interface SendContext extends CustomerRow {
  /** The business's help contact; `null`: it may not send SMS. */
  helpContact: string | null;
  recentSends: Date[];
  fingerprint: string;
  since: Date;
}

/**
 * The customer, for a member of their business (`null` otherwise, as for a missing one), with
 * the recent sends to their number and a fingerprint of what was read: one statement, no locks.
 * start_send re-checks the fingerprint under the locks.
 */
export async function loadSendContext(
  sql: Sql,
  a: { customerId: string; userId: string; since: Date },
): Promise<SendContext | null> {
  const p = params(sql);
  const [row] = await sql<SendContextRow[]>`
    select * from sms.send_context(
      ${p.text(a.customerId)}::uuid, ${p.text(a.userId)}::uuid, ${a.since})`;
  if (!row) return null;
  return {
    id: row.customer_id,
    business_id: row.business_id,
    phone: row.phone,
    phone_status: row.phone_status,
    sms_consent_status: row.sms_consent_status,
    time_zone: row.time_zone,
    us_state: row.us_state,
    helpContact: row.help_contact,
    allowed_countries: row.allowed_countries,
    recentSends: row.recent_sends.map((at) => new Date(at)),
    fingerprint: row.fingerprint,
    since: a.since,
  };
}

/**
 * The stored answer of a completed request under this key, or null. Read as service_role (the keys
 * are internal, in schema sms): the key's business is the customer's, which the user was just
 * found to be a member of.
 */
export async function completedAnswer(sql: Sql, key: IdempotencyKey): Promise<Answer | null> {
  const [row] = await asService(
    sql,
    (tx) =>
      tx<
        Pick<
          TableRow<"sms", "idempotency_keys", { response_status: number }>,
          "response_status" | "response_body"
        >[]
      >`
      select response_status, response_body from sms.idempotency_keys
       where business_id = ${key.businessId} and idempotency_key = ${key.key}
         and state = 'completed' and request_hash = ${key.hash}`,
  );
  return row ? { status: row.response_status, body: row.response_body } : null;
}

export async function releaseIdempotencyKey(sql: Sql, key: IdempotencyKey | null) {
  if (!key) return;
  await sql`select sms.release_idempotency_key(${key.businessId}::uuid, ${key.key})`;
}

export interface EnqueueArgs {
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

export async function enqueueRetry(tx: Db, a: EnqueueArgs): Promise<SendSmsDeferredResponse> {
  const [row] = await tx<RpcRow<"sms", "enqueue_retry", { scheduled_for: Date }>[]>`
    select * from sms.enqueue_retry(
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

/** What start_send wrote: the send log, and for a deferral its retry row. */
export type StartedSend = RpcRow<"sms", "start_send", { scheduled_for: Date }>;

/**
 * Starts a send (its log `sending`) or defers it (log and retry row) in one statement that takes
 * the quota and send locks and refuses with `send_context_changed` when what the decision read
 * (the fingerprint) no longer holds.
 */
export async function startSend(
  db: Db,
  a: {
    customerId: string;
    userId: string;
    fingerprint: string;
    since: Date;
    segments: number;
    encoding: string;
    quota: number;
    body: string;
    deferred: { reason: DeferReason; scheduledFor: Date } | null;
    /** Why it may go now (a send now only), kept on the log in the same statement. */
    receipt: ComplianceReceipt | null;
  },
): Promise<StartedSend> {
  const p = params(db);
  const [row] = await db<StartedSend[]>`
    select * from sms.start_send(
      p_customer_id => ${p.text(a.customerId)}::uuid, p_acting_user => ${p.text(a.userId)}::uuid,
      p_fingerprint => ${p.text(a.fingerprint)}, p_since => ${a.since},
      p_segments => ${p.int(a.segments)}, p_encoding => ${p.text(a.encoding)},
      p_default_quota => ${p.int(a.quota)}, p_body => ${p.text(a.body)},
      p_defer_reason => ${p.text(a.deferred?.reason)},
      p_scheduled_for => ${a.deferred?.scheduledFor ?? null}::timestamptz,
      p_lease_seconds => ${p.int(SEND_GUARD_LEASE_SECONDS)},
      p_receipt => ${a.receipt ? db.json(a.receipt as never) : null})`;
  return row;
}

/**
 * How long send-sms holds a send's in-flight guard: Twilio's timeout and the margin a worker's
 * lease has (process-retries' leaseSecondsFor), after which a worker takes the message over and
 * looks it up in Twilio before anything is sent again.
 */
export const SEND_GUARD_LEASE_SECONDS = Math.ceil(TWILIO_REQUEST_TIMEOUT_MS / 1000) + 45;

/**
 * Stores Twilio's acceptance, removes the in-flight guard and stores the answer under the key, in
 * one statement (sms.finish_send). When an early callback already failed the log with an error
 * code, finish_send writes nothing and the error's effect is applied with the rest in one
 * service-role transaction instead.
 */
export async function finishSend(
  sql: Sql,
  a: { sendLogId: string; sent: AcceptedSend; key: IdempotencyKey | null; answer: Answer },
): Promise<void> {
  const { sent, key } = a;
  try {
    const p = params(sql);
    await sql`select sms.finish_send(${p.text(a.sendLogId)}::uuid, ${p.text(sent.sid)},
      ${p.text(sent.status)}, ${p.int(sent.segments)}, ${p.text(key?.businessId)}::uuid,
      ${p.text(key?.key)}, ${p.int(key ? a.answer.status : null)},
      ${key ? sql.json(a.answer.body as never) : null}::jsonb)`;
    return;
  } catch (error) {
    if (!isProviderErrorPending(error)) throw error;
  }
  await asService(sql, async (tx) => {
    await recordSendResult(tx, { sendLogId: a.sendLogId, result: sent });
    await releaseSendGuard(tx, a.sendLogId);
    await completeIdempotencyKey(tx, key, a.answer, a.sendLogId);
  });
}

/** Removes the send's in-flight guard, in the transaction that stores Twilio's answer. */
export async function releaseSendGuard(tx: Db, sendLogId: string): Promise<void> {
  await tx`select sms.release_send_guard(${sendLogId}::uuid)`;
}
