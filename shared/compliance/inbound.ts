/**
 * Inbound replies without I/O: what a reply means for us (Twilio's own opt-out handling
 * included) and whether it was sent to our sender. twilio-webhook decides every reply it gets
 * with these, and process-retries' inbound recovery every reply the webhook missed.
 *
 * @module
 */
import {
  classifyReply,
  HELP_KEYWORDS,
  type KeywordClass,
  OPT_IN_KEYWORDS,
  OPT_OUT_KEYWORDS,
} from "./keywords.ts";

/** How replies are answered; read from the environment alike by both functions. */
export interface InboundSettings {
  /**
   * `TWILIO_OPT_OUT_HANDLING` (`on`, the default, or `off`): whether Twilio's own opt-out
   * handling (default filtering or Advanced Opt-Out) answers STOP, START and HELP and their
   * default synonyms on our sender. On: the webhook never adds a reply to those keywords.
   */
  twilioOptOutHandling: boolean;
  /**
   * `SMS_OPT_OUT_CONFIRMATION_WINDOW_HOURS` (default 24): an opt-out that changes nothing (the
   * number was already opted out) is not confirmed again within this many hours of the last
   * confirmation to the number. 0: every such opt-out is confirmed.
   */
  optOutConfirmationWindowHours: number;
}

/** Default of `SMS_OPT_OUT_CONFIRMATION_WINDOW_HOURS`. */
export const DEFAULT_OPT_OUT_CONFIRMATION_WINDOW_HOURS = 24;

/** The reply settings from the environment; anything unreadable is the default. */
export function inboundSettingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): InboundSettings {
  // on/off (also true/false, yes/no, 1/0).
  const handling = env.TWILIO_OPT_OUT_HANDLING?.trim().toLowerCase() ?? "";
  const hours = env.SMS_OPT_OUT_CONFIRMATION_WINDOW_HOURS?.trim() ?? "";
  return {
    twilioOptOutHandling: !["off", "false", "no", "0"].includes(handling),
    // At most a year: the window is a lookup, not a retention period.
    optOutConfirmationWindowHours: /^\d+(\.\d+)?$/.test(hours)
      ? Math.min(Number(hours), 24 * 366)
      : DEFAULT_OPT_OUT_CONFIRMATION_WINDOW_HOURS,
  };
}

/** The fields of an inbound message (Twilio's webhook names) these decisions read. */
export interface InboundMessageFields {
  MessageSid: string;
  From: string;
  To: string;
  Body: string;
  NumMedia?: number;
  MessagingServiceSid?: string;
  /** Set by Twilio's Advanced Opt-Out when the body matched one of its keywords. */
  OptOutType?: "STOP" | "START" | "HELP";
}

/** What an inbound reply means for us. */
export interface InboundDecision {
  kind: KeywordClass;
  /** The keyword or phrase that decided (for the consent evidence); `null` for `other`. */
  keyword: string | null;
  /**
   * `exact` keyword, a misspelt opt-out keyword (`fuzzy`), a revocation word or phrase
   * `contains`ed, or Twilio's `OptOutType`.
   */
  via: "exact" | "fuzzy" | "contains" | "twilio" | null;
  /**
   * Twilio already answered the keyword (Advanced Opt-Out set `OptOutType`, or its opt-out
   * handling is on and the reply is one of its default keywords): we must stay silent.
   */
  twilioHandled: boolean;
}

const TWILIO_DEFAULT_KEYWORDS: ReadonlyMap<string, KeywordClass> = new Map([
  ...OPT_OUT_KEYWORDS.map((k) => [k, "opt_out"] as const),
  ...OPT_IN_KEYWORDS.map((k) => [k, "opt_in"] as const),
  ...HELP_KEYWORDS.map((k) => [k, "help"] as const),
]);

/**
 * The class of a reply Twilio's default opt-out handling answers itself, or `null`: the whole
 * message is one of its default keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT,
 * REVOKE; START, YES, UNSTOP; HELP, INFO), any case, surrounding spaces and trailing `.!?`
 * ignored. "Stop texting me" is not one: Twilio matches single words only.
 */
export function twilioDefaultKeyword(body: string): KeywordClass | null {
  const word = body.trim().replace(/[.!?]+$/, "").trim().toUpperCase();
  return TWILIO_DEFAULT_KEYWORDS.get(word) ?? null;
}

const OPT_OUT_TYPE_KIND: Readonly<Record<string, KeywordClass>> = {
  STOP: "opt_out",
  START: "opt_in",
  HELP: "help",
};

/**
 * Classifies a reply with the common classifier (FCC phrases included) and Twilio's
 * `OptOutType`. An opt-out from either side wins (when in doubt, honour it); otherwise Twilio's
 * type wins over our class, since it may match custom keywords configured in Twilio. With
 * `twilioOptOutHandling`, a reply that is one of Twilio's default keywords counts as answered by
 * Twilio even without `OptOutType` (default filtering does not send it).
 */
export function decideInbound(
  message: Pick<InboundMessageFields, "Body" | "OptOutType">,
  options: { twilioOptOutHandling?: boolean } = {},
): InboundDecision {
  const match = classifyReply(message.Body ?? "");
  const optOutType = message.OptOutType ?? null;
  const twilioKind = optOutType ? OPT_OUT_TYPE_KIND[optOutType] ?? null : null;
  const twilioHandled = twilioKind !== null ||
    (options.twilioOptOutHandling === true && twilioDefaultKeyword(message.Body ?? "") !== null);
  if (match.kind === "opt_out" || twilioKind === null || twilioKind === match.kind) {
    return {
      kind: match.kind,
      keyword: match.matched,
      via: match.via,
      twilioHandled,
    };
  }
  return { kind: twilioKind, keyword: optOutType!.toLowerCase(), via: "twilio", twilioHandled };
}

/**
 * Whether an inbound message was sent to our sender: the configured number or Messaging Service.
 * Replies to another number on the account are not ours to act on. With neither configured,
 * every number on the account counts as ours.
 */
export function isOurSender(
  config: { phoneNumber: string | null; messagingServiceSid: string | null },
  message: Pick<InboundMessageFields, "To" | "MessagingServiceSid">,
): boolean {
  if (!config.phoneNumber && !config.messagingServiceSid) return true;
  if (config.phoneNumber && message.To === config.phoneNumber) return true;
  return config.messagingServiceSid !== null &&
    message.MessagingServiceSid === config.messagingServiceSid;
}
