/**
 * twilio-webhook's SQL: a status callback recorded as a message event (the send log follows it,
 * never backwards), and an inbound message recorded with its consent effect.
 *
 * @module
 */
import { type Db, params, type RpcRow } from "@shared/runtime/db.ts";
import type { StatusEventArgs } from "./webhook.ts";

/** What `sms.record_status_event` answered (its event id read as text). */
export type StatusRow = RpcRow<"sms", "record_status_event", {
  event_id: string;
  send_log_id: string | null;
  status: string | null;
}>;

/** Records a status callback; applies it to the send log when it moves the status forward. */
export async function recordStatusEvent(db: Db, args: StatusEventArgs): Promise<StatusRow> {
  const p = params(db);
  const [row] = await db<StatusRow[]>`
    select event_id::text, duplicate, send_log_id, status, applied
      from sms.record_status_event(
        p_message_sid => ${p.text(args.messageSid)},
        p_status => ${p.text(args.status)},
        p_error_code => ${p.int(args.errorCode)},
        p_error_message => ${p.text(args.errorMessage)},
        p_payload => ${db.json(args.payload)},
        p_source => 'callback')`;
  return row;
}

// Recording a reply: shared with process-retries' inbound recovery.
export {
  type InboundResult,
  recordInboundAnswer,
  recordInboundMessage,
} from "@shared/inbound-store.ts";
