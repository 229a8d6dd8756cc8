/**
 * twilio-webhook's SQL: a status callback recorded as a message event (the send log follows it,
 * never backwards), and an inbound message recorded with its consent effect.
 *
 * @module
 */
import type { Db, RpcRow, Tx } from "@shared/runtime/db.ts";
import type { TwilioInboundMessage } from "./params.ts";
import type { StatusEventArgs } from "./webhook.ts";

/** What `sms.record_status_event` answered (its event id read as text). */
export type StatusRow = RpcRow<"sms", "record_status_event", {
  event_id: string;
  send_log_id: string | null;
  status: string | null;
}>;

/** Records a status callback; applies it to the send log when it moves the status forward. */
export async function recordStatusEvent(db: Db, args: StatusEventArgs): Promise<StatusRow> {
  const [row] = await db<StatusRow[]>`
    select event_id::text, duplicate, send_log_id, status, applied
      from sms.record_status_event(
        p_message_sid => ${args.messageSid},
        p_status => ${args.status},
        p_error_code => ${args.errorCode}::integer,
        p_error_message => ${args.errorMessage},
        p_payload => ${db.json(args.payload)},
        p_source => 'callback')`;
  return row;
}

export interface InboundResult {
  duplicate: boolean;
  matched_customers: number;
  changed_customers: number;
  cancelled_retries: number;
  businesses: { id: string; name: string; help_contact: string | null }[];
}

/**
 * Whether to answer an inbound reply with our text, recorded once per MessageSid (see
 * `sms.record_inbound_answer`): never to a redelivery or a keyword Twilio answered, and one
 * opt-out confirmation per window to a number that was already opted out.
 */
export async function recordInboundAnswer(
  tx: Tx,
  a: {
    messageSid: string;
    from: string;
    kind: string;
    wantsReply: boolean;
    twilioAnswered: boolean;
    changed: boolean;
    windowHours: number;
  },
): Promise<boolean> {
  const [row] = await tx<{ reply: boolean }[]>`
    select sms.record_inbound_answer(
      p_message_sid => ${a.messageSid},
      p_from => ${a.from},
      p_kind => ${a.kind},
      p_wants_reply => ${a.wantsReply},
      p_twilio_answered => ${a.twilioAnswered},
      p_changed => ${a.changed},
      p_confirmation_window => make_interval(secs => ${a.windowHours * 3600}::double precision)
    ) as reply`;
  return row.reply;
}

/** Records an inbound message once per MessageSid, with its opt-out/opt-in effect. */
export async function recordInboundMessage(
  tx: Tx,
  a: {
    message: TwilioInboundMessage;
    kind: string;
    keyword: string | null;
    details: Record<string, string>;
  },
): Promise<InboundResult> {
  const { message } = a;
  const [row] = await tx<{ result: InboundResult }[]>`
    select sms.record_inbound_message(
      p_message_sid => ${message.MessageSid},
      p_from => ${message.From},
      p_to => ${message.To},
      p_body => ${message.Body},
      p_kind => ${a.kind},
      p_keyword => ${a.keyword},
      p_num_media => ${message.NumMedia ?? 0}::integer,
      p_details => ${tx.json(a.details)}) as result`;
  return row.result;
}
