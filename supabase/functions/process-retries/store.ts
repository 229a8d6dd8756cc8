/**
 * The retry queue's RPCs as process-retries calls them, with rows in camelCase. A row's round is
 * `security definer` calls that each are a statement of their own (`Db`: no transaction, no role
 * switch, no lock held across a round trip); what needs several statements together opens a
 * service-role transaction.
 *
 * @module
 */
import { asService, type Db, params, type RpcRow, type Sql } from "@shared/runtime/db.ts";
import type { ProcessRetriesResult } from "./config.ts";
import type { FailurePlan, RetrySendFacts } from "./plan.ts";
import type { LookupOutcome, RefreshConfig } from "./refresh.ts";
import type { ListedPrice, PricingConfig } from "./pricing.ts";
import {
  type AcceptedSend,
  applyProviderError,
  isProviderErrorPending,
  recordSendResult,
} from "@shared/store.ts";
import type { ComplianceReceipt } from "@shared/compliance/receipt.ts";
import { classifyTwilioError } from "@shared/twilio/errors.ts";

type Claimed = RpcRow<"sms", "claim_due_retries">;

/** A row handed out by `sms.claim_due_retries`, in camelCase. */
export interface ClaimedRetry {
  id: Claimed["id"];
  sendLogId: Claimed["send_log_id"];
  customerId: Claimed["customer_id"];
  body: Claimed["body"];
  reason: Claimed["reason"];
  /** Attempts used, including the one this claim counted. */
  attempts: Claimed["attempts"];
  maxAttempts: Claimed["max_attempts"];
  scheduledFor: Date;
  /** An earlier attempt may have reached Twilio: reconcile before sending. */
  outcomeUncertain: Claimed["outcome_uncertain"];
}

/** Claims up to `limit` due rows for `worker` with a lease of `leaseSeconds`. */
export async function claimDueRetries(
  db: Db,
  args: { limit: number; leaseSeconds: number; worker: string },
): Promise<ClaimedRetry[]> {
  const p = params(db);
  const rows = await db<ClaimedRetry[]>`
    select id, send_log_id as "sendLogId", customer_id as "customerId", body, reason, attempts,
           max_attempts as "maxAttempts", scheduled_for as "scheduledFor",
           outcome_uncertain as "outcomeUncertain"
      from sms.claim_due_retries(${p.int(args.limit)}, ${p.int(args.leaseSeconds)},
                                 ${p.text(args.worker)})`;
  return [...rows];
}

/** What `sms.retry_send_context` returned: the facts, or that the row is no longer ours. */
export type SendContext =
  | { leaseHeld: false }
  | {
    leaseHeld: true;
    facts: RetrySendFacts;
    logStatus: string;
    logCreatedAt: Date;
    /** What `startRetrySend` compares under the locks: the decision still holds if equal. */
    fingerprint: string;
  };

/** Reads a held row's facts (alone: the locks it takes end with the statement). */
export async function sendContext(
  db: Db,
  args: { retryId: string; worker: string; minLeaseSeconds: number; since: Date },
): Promise<SendContext> {
  // A row that is no longer ours comes back with only lease_held: every other column is null.
  const p = params(db);
  const [row] = await db<
    Omit<
      RpcRow<"sms", "retry_send_context", {
        consent_status: string | null;
        phone: string | null;
        phone_status: string | null;
        time_zone: string | null;
        us_state: string | null;
        log_status: string | null;
        log_to_phone: string | null;
        log_twilio_sid: string | null;
        log_created_at: Date | null;
        recent_sends: string[] | null;
        help_contact: string | null;
        allowed_countries: string[] | null;
        expires_at: Date | null;
        fingerprint: string | null;
      }>,
      "customer_id"
    >[]
  >`
    select lease_held, consent_status, phone, phone_status, time_zone, us_state, log_status,
           log_to_phone, log_twilio_sid, log_created_at, to_json(recent_sends) as recent_sends,
           help_contact, allowed_countries, expires_at, fingerprint
      from sms.retry_send_context(${p.text(args.retryId)}::uuid, ${p.text(args.worker)},
                                  ${p.int(args.minLeaseSeconds)},
                                  ${p.text(args.since.toISOString())}::timestamptz)`;
  if (!row?.lease_held) return { leaseHeld: false };
  return {
    leaseHeld: true,
    logStatus: row.log_status ?? "",
    logCreatedAt: row.log_created_at ?? new Date(0),
    fingerprint: row.fingerprint ?? "",
    facts: {
      consentStatus: row.consent_status ?? "unknown",
      phone: row.phone,
      phoneStatus: row.phone_status ?? "unknown",
      timeZone: row.time_zone,
      state: row.us_state,
      logToPhone: row.log_to_phone,
      logTwilioSid: row.log_twilio_sid,
      recentSends: (row.recent_sends ?? []).map((s) => new Date(s)),
      helpContactMissing: row.help_contact === null,
      allowedCountries: row.allowed_countries ?? [],
      expiresAt: row.expires_at,
    },
  };
}

/** A send log as reconciliation needs it. */
export interface SendLogForReconcile {
  toPhone: string | null;
  createdAt: Date;
  twilioSid: string | null;
}

/** Reads a send log's recipient, creation time and sid. */
export async function sendLogForReconcile(
  sql: Sql,
  sendLogId: string,
): Promise<SendLogForReconcile | null> {
  return await asService(sql, async (tx) => {
    const [row] = await tx<SendLogForReconcile[]>`
      select to_phone as "toPhone", created_at as "createdAt",
             provider_message_id ->> 'twilio_sid' as "twilioSid"
        from public.send_logs where id = ${sendLogId}::uuid`;
    return row ?? null;
  });
}

/** Which of `sids` other send logs already hold. */
export async function sidsHeldElsewhere(
  sql: Sql,
  args: { sids: string[]; sendLogId: string },
): Promise<Set<string>> {
  if (args.sids.length === 0) return new Set();
  return await asService(sql, async (tx) => {
    const rows = await tx<{ sid: string }[]>`
      select provider_message_id ->> 'twilio_sid' as sid from public.send_logs
       where provider_message_id ->> 'twilio_sid' = any(${args.sids}::text[])
         and id <> ${args.sendLogId}::uuid`;
    return new Set(rows.map((r) => r.sid));
  });
}

/** A reserved slot: the wait from the database's clock, and that clock (epoch ms) just after. */
export interface ReservedSlot {
  waitMs: number;
  dbNowMs: number;
}

/** Reserves the sender's next slot; `null` past `maxWaitMs`. */
export async function reserveSendSlot(
  tx: Db,
  args: {
    key: string;
    segments: number;
    segmentsPerSecond: number;
    maxWaitMs: number;
    leadMs: number;
    booker: string;
    gapMs: number;
  },
): Promise<ReservedSlot | null> {
  const p = params(tx);
  const [row] = await tx<{ waitMs: number | null; dbNowMs: number }[]>`
    select s.wait as "waitMs", (extract(epoch from clock_timestamp()) * 1000)::float8 as "dbNowMs"
      from sms.reserve_send_slot(${p.text(args.key)}, ${p.int(args.segments)},
                                 ${p.text(String(args.segmentsPerSecond))}::numeric,
                                 ${p.int(Math.floor(args.maxWaitMs))},
                                 ${p.int(Math.ceil(args.leadMs))}, ${p.text(args.booker)},
                                 ${p.int(Math.ceil(args.gapMs))}) as s(wait)`;
  return row && row.waitMs !== null ? { waitMs: row.waitMs, dbNowMs: row.dbNowMs } : null;
}

/** Milliseconds until the next pending row is due (0: one is), or `null` when none is pending. */
export async function nextDueInMs(sql: Sql): Promise<number | null> {
  return await asService(sql, async (tx) => {
    const [row] = await tx<{ ms: number | null }[]>`
      select greatest(0, ceil(extract(epoch from min(scheduled_for) - clock_timestamp()) * 1000))
               ::integer as ms
        from sms.retry_queue where status = 'pending'`;
    return row?.ms ?? null;
  });
}

/** Milliseconds of sending already booked on the sender by every worker. */
export async function pacingBacklogMs(sql: Sql, key: string): Promise<number> {
  return await asService(sql, async (tx) => {
    const [row] = await tx<{ ms: number }[]>`
      select greatest(0, ceil(extract(epoch from next_slot_at - clock_timestamp()) * 1000))::integer
             as ms
        from sms.send_pacing where key = ${key}`;
    return row?.ms ?? 0;
  });
}

/** What `sms.start_retry_send` did with a decision to send. */
export type StartOutcome = "started" | "lost" | "changed";

/**
 * Marks the log 'sending' with its receipt before the Twilio call (a dead worker's row is then
 * reconciled), if what the decision read still holds under the locks: `changed` when it does not
 * (nothing written), `lost` when the row is no longer the worker's.
 */
export async function startRetrySend(
  db: Db,
  args: {
    retryId: string;
    worker: string;
    minLeaseSeconds: number;
    since: Date;
    fingerprint: string;
    receipt: ComplianceReceipt;
  },
): Promise<StartOutcome> {
  const p = params(db);
  const [row] = await db<{ outcome: StartOutcome }[]>`
    select sms.start_retry_send(${p.text(args.retryId)}::uuid, ${p.text(args.worker)},
                                ${p.int(args.minLeaseSeconds)},
                                ${p.text(args.since.toISOString())}::timestamptz,
                                ${p.text(args.fingerprint)},
                                ${db.json(args.receipt as never)}) as outcome`;
  return row.outcome;
}

/**
 * Stores Twilio's answer and completes the row in one statement; false when the worker no longer
 * holds the row. When the log ends failed with an error code (an early callback reported one),
 * the answer, the error's effect and the completion go in one transaction instead.
 */
export async function finishRetrySend(
  db: Sql,
  args: { retryId: string; sendLogId: string; worker: string; sent: AcceptedSend },
): Promise<boolean> {
  const { sent } = args;
  try {
    const p = params(db);
    const [row] = await db<{ ok: boolean }[]>`
      select sms.finish_retry_send(${p.text(args.retryId)}::uuid, ${p.text(args.worker)},
                                   ${p.text(sent.sid)}, ${p.text(sent.status)},
                                   ${p.int(sent.segments)}) as ok`;
    return row?.ok === true;
  } catch (error) {
    if (!isProviderErrorPending(error)) throw error;
  }
  return await asService(db, async (tx) => {
    await recordSendResult(tx, { sendLogId: args.sendLogId, result: sent });
    return await completeRetry(tx, { retryId: args.retryId, worker: args.worker });
  });
}

/** Marks the row completed; false when the worker no longer holds it. */
export async function completeRetry(
  tx: Db,
  args: { retryId: string; worker: string },
): Promise<boolean> {
  const [row] = await tx<{ ok: boolean }[]>`
    select sms.complete_retry(${args.retryId}::uuid, ${args.worker}) as ok`;
  return row?.ok === true;
}

/** Records a failed attempt; the row's new status, or `null` when the worker lost it. */
export async function failRetry(
  tx: Db,
  args: { retryId: string; worker: string; plan: FailurePlan },
): Promise<string | null> {
  const { plan } = args;
  const [row] = await tx<{ status: string }[]>`
    select status from sms.fail_retry(
      ${args.retryId}::uuid, ${args.worker}, ${plan.error},
      ${plan.retryAt ? plan.retryAt.toISOString() : null}::timestamptz,
      ${plan.errorCode}::integer, ${plan.permanent}, ${plan.outcomeUncertain})`;
  return row?.status ?? null;
}

/** Puts a held row back to pending at `at` without using an attempt; false when lost. */
export async function rescheduleRetry(
  tx: Db,
  args: { retryId: string; worker: string; at: Date; reason: string | null },
): Promise<boolean> {
  const rows = await tx`
    select 1 from sms.reschedule_retry(${args.retryId}::uuid, ${args.worker},
                                       ${args.at.toISOString()}::timestamptz,
                                       ${args.reason})`;
  return rows.length > 0;
}

/** Cancels a held row (and its send log); false when lost. */
export async function cancelRetry(
  tx: Db,
  args: { retryId: string; worker: string; reason: string },
): Promise<boolean> {
  const [row] = await tx<{ ok: boolean }[]>`
    select sms.cancel_retry(${args.retryId}::uuid, ${args.worker}, ${args.reason}) as ok`;
  return row?.ok === true;
}

/** Records the start of a run; its heartbeat id. */
export async function startHeartbeat(sql: Sql, workerId: string): Promise<string> {
  return await asService(sql, async (tx) => {
    const [row] = await tx<{ id: string }[]>`
      select sms.start_worker_heartbeat('process-retries', ${workerId})::text as id`;
    return row.id;
  });
}

/** Records the end of a run with its counts and, when it failed, the error. */
export async function finishHeartbeat(
  sql: Sql,
  args: { id: string; result: ProcessRetriesResult; error: string | null },
): Promise<void> {
  const r = args.result;
  await asService(sql, async (tx) => {
    await tx`
      select 1 from sms.finish_worker_heartbeat(${args.id}::bigint, ${r.claimed}::integer,
        ${r.sent}::integer, ${r.deferred}::integer, ${r.failed}::integer, ${r.skipped}::integer,
        ${args.error})`;
  });
}

/** A log handed out for a status lookup by `sms.claim_status_lookups`. */
export interface StatusLookup {
  sendLogId: string;
  sid: string;
  status: string;
}

/** Claims up to `limit` logs that waited too long for a callback (oldest first). */
export async function claimStatusLookups(
  sql: Sql,
  args: { limit: number; config: RefreshConfig },
): Promise<StatusLookup[]> {
  const c = args.config;
  return await asService(sql, async (tx) => {
    const rows = await tx<StatusLookup[]>`
      select send_log_id as "sendLogId", message_sid as sid, status
        from sms.claim_status_lookups(${args.limit}::integer, ${c.queuedAfterS}::integer,
                                      ${c.sentAfterS}::integer, ${c.recheckS}::integer,
                                      ${c.maxAgeS}::integer)`;
    return [...rows];
  });
}

/** What `sms.record_status_lookup` did: the log's status, and whether the lookup moved it. */
export interface LookupApplied {
  status: string;
  applied: boolean;
}

/**
 * Applies a lookup's outcome to the log (forward only, source 'lookup'); when it moved the log
 * to a failed status with an error code, the code's effect too, in the same transaction, as a
 * callback's would be.
 */
export async function recordStatusLookup(
  sql: Sql,
  args: { sendLogId: string; sid: string; outcome: LookupOutcome },
): Promise<LookupApplied> {
  const { outcome } = args;
  return await asService(sql, async (tx) => {
    const status = outcome.kind === "status" ? outcome.status : null;
    const code = outcome.kind === "status" ? outcome.errorCode : null;
    const [row] = await tx<LookupApplied[]>`
      select status, applied from sms.record_status_lookup(
        ${args.sendLogId}::uuid, ${status}, ${code}::integer,
        ${outcome.kind === "status" ? outcome.errorMessage : null},
        ${tx.json(outcome.payload)})`;
    if (row?.applied && code !== null) {
      await applyProviderError(tx, {
        sendLogId: args.sendLogId,
        classification: classifyTwilioError({ code }),
        messageSid: args.sid,
      });
    }
    return row ?? { status: "", applied: false };
  });
}

/** Makes a log due for a lookup again at once (Twilio did not answer its lookup). */
export async function releaseStatusLookup(sql: Sql, sendLogId: string): Promise<void> {
  await asService(sql, async (tx) => {
    await tx`select sms.release_status_lookup(${sendLogId}::uuid)`;
  });
}

/** Starts scheduled campaigns whose time came and ends those whose every message is final. */
export async function finishCampaigns(sql: Sql): Promise<number> {
  const [row] = await sql<{ changed: number }[]>`select sms.finish_campaigns() as changed`;
  return row.changed;
}

/** A campaign message handed out for a price lookup by `sms.claim_price_lookups`. */
export interface PriceLookup {
  sendLogId: string;
  sid: string;
  sentAt: Date;
}

/** Claims up to `limit` campaign messages billed but not priced yet (oldest first). */
export async function claimPriceLookups(
  sql: Sql,
  args: { limit: number; config: PricingConfig },
): Promise<PriceLookup[]> {
  const c = args.config;
  return await asService(sql, async (tx) => {
    const rows = await tx<PriceLookup[]>`
      select send_log_id as "sendLogId", message_sid as sid, sent_at as "sentAt"
        from sms.claim_price_lookups(${args.limit}::integer, ${c.settleS}::integer,
                                     ${c.recheckS}::integer, ${c.maxAgeS}::integer,
                                     ${c.spanS}::integer)`;
    return [...rows];
  });
}

/** Stores listed prices on the unpriced logs of their sids, in one statement; logs priced. */
export async function recordMessagePrices(sql: Sql, prices: ListedPrice[]): Promise<number> {
  if (prices.length === 0) return 0;
  return await asService(sql, async (tx) => {
    const [row] = await tx<{ priced: number }[]>`
      select sms.record_message_prices(${prices.map((p) => p.sid)}::text[],
                                       ${prices.map((p) => p.price)}::text[],
                                       ${prices.map((p) => p.unit)}::text[]) as priced`;
    return row?.priced ?? 0;
  });
}

/** Makes unpriced logs the listing did not reach due for a price lookup again at once. */
export async function releasePriceLookups(sql: Sql, sendLogIds: string[]): Promise<void> {
  if (sendLogIds.length === 0) return;
  await asService(sql, async (tx) => {
    await tx`select sms.release_price_lookups(${sendLogIds}::uuid[])`;
  });
}
