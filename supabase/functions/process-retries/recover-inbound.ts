/**
 * Inbound recovery: the replies customers sent while twilio-webhook could not take them (down,
 * its database down, answering 5xx past Twilio's retries), read back from Twilio's Messages list
 * and fed through the webhook's own steps: the same sender check, the same classification
 * (`decideInbound`), the same `sms.record_inbound_message` (opt-out in every business with the
 * number, its pending retries cancelled; one row per MessageSid, so a reply already recorded
 * changes nothing) and the same `sms.record_inbound_answer`, asked for no text: a recovered STOP
 * opts out but is never answered, now or later (docs/reliability.md, "Webhook outages").
 *
 * An operator runs it through process-retries with the cron secret, for the outage's window:
 * `{"recoverInbound": {"since": "2026-12-04T21:00:00Z", "until": "2026-12-04T22:30:00Z"}}`,
 * bounded to {@link MAX_RECOVERY_WINDOW_MS} and {@link MAX_RECOVERY_PAGES} pages of 50.
 *
 * @module
 */
import type { Sql, Tx } from "@shared/runtime/db.ts";
import { SmsError } from "@shared/contract/errors.ts";
import type { Env } from "@shared/runtime/function.ts";
import type { Logger } from "@shared/runtime/log.ts";
import type { TwilioClient } from "@shared/twilio/client.ts";
import type { InboundListedMessage } from "@shared/twilio/inbound-messages.ts";
import type { InboundMessageFields } from "@shared/compliance/inbound.ts";

// What a recovery runs (the reply classifier alone is 18 KB) is loaded when one is asked for:
// the cron's runs, every minute and often on a cold worker, never evaluate it.
const load = () =>
  Promise.all([
    import("@shared/runtime/db.ts"),
    import("@shared/compliance/inbound.ts"),
    import("@shared/inbound-store.ts"),
    import("@shared/text/clip.ts"),
    import("@shared/twilio/inbound-messages.ts"),
  ]);

/** The longest window one request may recover: a week of outage. */
export const MAX_RECOVERY_WINDOW_MS = 7 * 24 * 3600 * 1000;
/** Pages of 50 read when the request names none. */
export const DEFAULT_RECOVERY_PAGES = 10;
/** At most this many pages of 50 (2,000 messages) per request. */
export const MAX_RECOVERY_PAGES = 40;
/** `until` may be this far ahead of the function's clock (clock skew). */
const FUTURE_SLACK_MS = 60_000;

/** A validated `recoverInbound` option. */
export interface InboundRecoveryRequest {
  since: Date;
  until: Date;
  maxPages: number;
}

/** What a recovery found and did. */
export interface InboundRecoveryResult {
  since: string;
  until: string;
  /** Inbound messages Twilio listed in the window. */
  listed: number;
  /** Recorded now: the webhook never got them. */
  recovered: number;
  /** Recorded already (the webhook got them, or an earlier recovery did): nothing changed. */
  alreadyRecorded: number;
  /** To another sender of the account: not ours to act on, as in the webhook. */
  notOurs: number;
  /** Customer records a recovered opt-out (or opt-in) changed. */
  consentChanges: number;
  /** False when the page limit stopped the listing: run again with `until` = `oldestListed`. */
  complete: boolean;
  oldestListed: string | null;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function refuse(message: string): never {
  throw new SmsError("invalid_request", `recoverInbound: ${message}`);
}

function instant(value: unknown, name: string): Date {
  if (typeof value !== "string" || !ISO_INSTANT.test(value)) {
    refuse(`${name} must be an ISO 8601 instant with its offset (e.g. 2026-12-04T21:00:00Z)`);
  }
  const date = new Date(value as string);
  if (Number.isNaN(date.getTime())) refuse(`${name} is not a valid instant`);
  return date;
}

/**
 * Takes the `recoverInbound` option out of a process-retries body: the rest goes to the run's
 * own parser. Anything malformed is `invalid_request`, before anything runs.
 */
export function takeInboundRecovery(
  body: unknown,
  now: Date,
): { rest: unknown; recovery: InboundRecoveryRequest | null } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { rest: body, recovery: null };
  }
  if (!Object.hasOwn(body, "recoverInbound")) return { rest: body, recovery: null };
  const { recoverInbound: option, ...rest } = body as Record<string, unknown>;
  if (typeof option !== "object" || option === null || Array.isArray(option)) {
    refuse("must be an object {since, until?, maxPages?}");
  }
  const o = option as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !["since", "until", "maxPages"].includes(k));
  if (unknown.length) refuse(`unrecognized key(s): ${unknown.join(", ")}`);
  const since = instant(o.since, "since");
  const until = o.until === undefined ? now : instant(o.until, "until");
  if (until.getTime() > now.getTime() + FUTURE_SLACK_MS) refuse("until is in the future");
  if (since.getTime() >= until.getTime()) refuse("since must be before until");
  if (until.getTime() - since.getTime() > MAX_RECOVERY_WINDOW_MS) {
    refuse("the window is longer than 7 days: recover it in several requests");
  }
  const pages = o.maxPages ?? DEFAULT_RECOVERY_PAGES;
  if (
    typeof pages !== "number" || !Number.isInteger(pages) || pages < 1 ||
    pages > MAX_RECOVERY_PAGES
  ) {
    refuse(`maxPages must be an integer from 1 to ${MAX_RECOVERY_PAGES}`);
  }
  return { rest, recovery: { since, until, maxPages: pages as number } };
}

/** What a recovery needs. */
export interface InboundRecoveryContext {
  sql: Sql;
  twilio: TwilioClient;
  env: Env;
  log: Logger;
}

/** The webhook's parameters for a listed message (what Twilio would have posted). */
function asWebhookMessage(m: InboundListedMessage): InboundMessageFields {
  // As the webhook's parser does: Postgres text cannot hold U+0000, jsonb no lone surrogate.
  const body = m.body.replaceAll("\u0000", "").toWellFormed();
  return {
    MessageSid: m.sid,
    From: m.from,
    To: m.to,
    Body: body,
    NumMedia: m.numMedia,
    ...(m.messagingServiceSid ? { MessagingServiceSid: m.messagingServiceSid } : {}),
  };
}

/**
 * When a recovered reply counts from. Twilio's `date_sent` has whole seconds: an opt-out counts
 * from the end of its second, so that a consent change recorded within that second (after the
 * handset's STOP, or before it) never outranks it; when in doubt the opt-out wins. Anything else
 * counts from the start.
 */
export function receivedAt(m: Pick<InboundListedMessage, "dateSent">, kind: string): Date {
  return kind === "opt_out" ? new Date(m.dateSent.getTime() + 999) : m.dateSent;
}

/**
 * Lists the window's inbound messages and records each one the webhook missed, oldest first (a
 * STOP then a START apply in the order the customer sent them).
 */
export async function recoverInbound(
  ctx: InboundRecoveryContext,
  request: InboundRecoveryRequest,
): Promise<InboundRecoveryResult> {
  const [
    { asService },
    { decideInbound, inboundSettingsFromEnv, isOurSender },
    { recordInboundAnswer, recordInboundMessage },
    { clip },
    { listInboundMessages },
  ] = await load();
  const sender = {
    phoneNumber: ctx.twilio.config.from,
    messagingServiceSid: ctx.twilio.config.messagingServiceSid,
  };
  // As twilio-webhook reads them; the window only for the record.
  const { twilioOptOutHandling, optOutConfirmationWindowHours: windowHours } =
    inboundSettingsFromEnv(ctx.env);
  const listing = await listInboundMessages(ctx.twilio, {
    to: sender.phoneNumber,
    sentAfter: request.since,
    sentBefore: request.until,
    maxPages: request.maxPages,
  });
  const messages = [...listing.messages].sort((a, b) =>
    a.dateSent.getTime() - b.dateSent.getTime() || a.sid.localeCompare(b.sid)
  );
  const result: InboundRecoveryResult = {
    since: request.since.toISOString(),
    until: request.until.toISOString(),
    listed: messages.length,
    recovered: 0,
    alreadyRecorded: 0,
    notOurs: 0,
    consentChanges: 0,
    complete: listing.complete,
    oldestListed: messages[0]?.dateSent.toISOString() ?? null,
  };
  for (const listed of messages) {
    const message = asWebhookMessage(listed);
    if (!isOurSender(sender, message)) {
      result.notOurs++;
      continue;
    }
    const decision = decideInbound(message, { twilioOptOutHandling });
    const details: Record<string, string> = {
      inbound_message_sid: message.MessageSid,
      body: clip(message.Body, 320),
      // The keyword is the handset's own (source 'keyword', which START may lift); how it
      // reached us is this: read back from Twilio's list after the webhook missed it.
      received_via: "recovery",
      recovered_at: new Date().toISOString(),
    };
    if (decision.via) details.via = decision.via;
    const outcome = await asService(ctx.sql, async (tx: Tx) => {
      const recorded = await recordInboundMessage(tx, {
        message,
        kind: decision.kind,
        keyword: decision.keyword,
        details,
        receivedAt: receivedAt(listed, decision.kind),
      });
      if (!recorded.duplicate) {
        // Marks the MessageSid answered, with no text: a late webhook delivery stays silent,
        // and a recovered STOP gets no confirmation hours after it was sent.
        await recordInboundAnswer(tx, {
          messageSid: message.MessageSid,
          from: message.From,
          kind: decision.kind,
          wantsReply: false,
          twilioAnswered: decision.twilioHandled,
          changed: recorded.changed_customers > 0,
          windowHours,
        });
      }
      return recorded;
    });
    if (outcome.duplicate) {
      result.alreadyRecorded++;
    } else {
      result.recovered++;
      result.consentChanges += outcome.changed_customers;
    }
  }
  ctx.log.info("inbound_recovery", { ...result });
  return result;
}
