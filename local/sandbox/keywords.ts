/**
 * Twilio's default opt-out management keywords, as Twilio matches them on inbound messages.
 * This is Twilio's matching (a whole message that is one keyword), not the app's broader FCC
 * "reasonable means" detection: the sandbox mimics the carrier side only.
 * @module
 */

/** Twilio's `OptOutType` values. */
export type OptOutType = "STOP" | "START" | "HELP";

const KEYWORDS: Readonly<Record<string, OptOutType>> = {
  STOP: "STOP",
  STOPALL: "STOP",
  UNSUBSCRIBE: "STOP",
  CANCEL: "STOP",
  END: "STOP",
  QUIT: "STOP",
  OPTOUT: "STOP",
  REVOKE: "STOP",
  START: "START",
  YES: "START",
  UNSTOP: "START",
  HELP: "HELP",
  INFO: "HELP",
};

/** The keyword class of an inbound body, or `null` when it is not a default keyword. */
export function classifyKeyword(body: string): OptOutType | null {
  const word = body.trim().replace(/[.!?]+$/, "").toUpperCase();
  return KEYWORDS[word] ?? null;
}
