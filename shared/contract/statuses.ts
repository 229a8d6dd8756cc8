/**
 * Message and send-log statuses, as Twilio reports them and as `send_logs.sms_status` stores them.
 *
 * @module
 */

/**
 * Twilio message statuses, as they appear in API responses and `MessageStatus` callbacks.
 * See https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
 */
export const MESSAGE_STATUSES = [
  "queued",
  "accepted",
  "scheduled",
  "sending",
  "sent",
  "delivered",
  "undelivered",
  "failed",
  "read",
  "canceled",
  "partially_delivered",
  "receiving",
  "received",
] as const;

/** A Twilio message status. */
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/** Statuses of an SMS send log: Twilio's outbound statuses plus our own `deferred`. */
export const SMS_SEND_LOG_STATUSES = [
  "deferred",
  "queued",
  "sending",
  "sent",
  "delivered",
  "undelivered",
  "failed",
  "canceled",
  "read",
] as const;

/** Status of an SMS send log (`send_logs.status` for channel `sms`). */
export type SmsSendLogStatus = (typeof SMS_SEND_LOG_STATUSES)[number];

/** Any status a send log or a Twilio callback can carry. */
export type SmsStatus = MessageStatus | SmsSendLogStatus;
