/**
 * Recording an inbound reply (`sms.record_inbound_message`, once per MessageSid, with its
 * opt-out/opt-in effect) and whether it is answered with a text (`sms.record_inbound_answer`):
 * the SQL twilio-webhook and process-retries' inbound recovery both run.
 *
 * @module
 */
import type { Tx } from "./runtime/db.ts";
import type { InboundMessageFields } from "./compliance/inbound.ts";

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
    message: InboundMessageFields;
    kind: string;
    keyword: string | null;
    details: Record<string, string>;
    /** When Twilio received it, for a message recovered later (default: now). */
    receivedAt?: Date | null;
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
      p_details => ${tx.json(a.details)},
      p_received_at => ${a.receivedAt ?? null}::timestamptz) as result`;
  return row.result;
}
