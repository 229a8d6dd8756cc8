/**
 * Carries out what a Twilio error means beyond the one message (opt-out, phone status, business
 * alert, filtered content) through the `sms.apply_provider_error` RPC, in the caller's
 * service-role transaction.
 *
 * @module
 */
import type { ComplianceReceipt } from "./compliance/receipt.ts";
import type { Db, Tx } from "./runtime/db.ts";
import { classifyTwilioError, type TwilioErrorClassification } from "./twilio/errors.ts";

/** What the database changed. */
export interface ProviderEffectResult {
  consentChanged: boolean;
  /** The customer's new phone status, when it changed. */
  phoneStatus: string | null;
  businessAlert: boolean;
  contentFiltered: boolean;
  cancelledRetries: number;
}

/** Input of {@link applyProviderError}. */
export interface ProviderErrorInput {
  sendLogId: string;
  classification: TwilioErrorClassification;
  /** The message's sid, as evidence for a consent change. */
  messageSid?: string | null;
}

const NO_EFFECT: ProviderEffectResult = {
  consentChanged: false,
  phoneStatus: null,
  businessAlert: false,
  contentFiltered: false,
  cancelledRetries: 0,
};

/** Applies a classified error's effect; errors with nothing to change cost no round trip. */
export async function applyProviderError(
  tx: Tx,
  input: ProviderErrorInput,
): Promise<ProviderEffectResult> {
  const { classification: c } = input;
  const acts = c.phoneStatus !== null ||
    ["opted_out", "sender_not_registered", "account_misconfigured", "content_filtered"]
      .includes(c.effect);
  if (!acts) return NO_EFFECT;
  const [row] = await tx<{ result: Record<string, unknown> }[]>`
    select sms.apply_provider_error(
      ${input.sendLogId}::uuid, ${c.code}::integer, ${c.effect}, ${c.phoneStatus},
      ${input.messageSid ?? null}) as result`;
  const r = row.result;
  return {
    consentChanged: r.consent_changed === true,
    phoneStatus: typeof r.phone_status === "string" ? r.phone_status : null,
    businessAlert: r.business_alert === true,
    contentFiltered: r.content_filtered === true,
    cancelledRetries: Number(r.cancelled_retries ?? 0),
  };
}

/** Twilio's answer to an accepted message. */
export interface AcceptedSend {
  sid: string;
  status: string;
  segments: number;
}

/**
 * Stores Twilio's answer (sid, status, segments) on the send log. Callbacks that arrived before
 * the sid was stored are linked to the log at this point; if one of them reported an error, its
 * effect (an opt-out, a dead number…) is applied here, since the webhook could not attribute it.
 */
export async function recordSendResult(
  tx: Tx,
  args: { sendLogId: string; result: AcceptedSend },
): Promise<void> {
  const { sendLogId, result } = args;
  const [log] = await tx<{ status: string; error_code: number | null }[]>`
    select status, error_code from sms.record_send_result(
      ${sendLogId}::uuid, ${result.sid}, ${result.status}, ${result.segments}::integer)`;
  if (log?.error_code != null && (log.status === "failed" || log.status === "undelivered")) {
    await applyProviderError(tx, {
      sendLogId,
      classification: classifyTwilioError({ code: log.error_code }),
      messageSid: result.sid,
    });
  }
}

/**
 * Whether `error` is `sms.record_accepted_send`'s refusal (through `sms.finish_send` or
 * `sms.finish_retry_send`): a callback that came first failed the log with an error code, whose
 * effect ({@link applyProviderError}) must be stored with the answer in one transaction.
 */
export function isProviderErrorPending(error: unknown): boolean {
  return (error as { message?: unknown })?.message === "provider_error_pending";
}

/** Ends a send log `failed` with Twilio's code and the reason, when Twilio did not take it. */
export async function recordSendFailure(
  tx: Tx,
  sendLogId: string,
  errorCode: number | null,
  reason: string,
): Promise<void> {
  await tx`select 1 from sms.record_send_result(
    ${sendLogId}::uuid, null, 'failed', null, ${errorCode}::integer, ${reason})`;
}

/** Writes the log's compliance receipt (once) as the message goes out. */
export async function recordSendReceipt(
  db: Db,
  sendLogId: string,
  receipt: ComplianceReceipt,
): Promise<void> {
  await db`select sms.record_send_receipt(${sendLogId}::uuid, ${db.json(receipt as never)})`;
}
