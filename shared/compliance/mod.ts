/**
 * The rules a send obeys, without I/O: consent and phone states, phone numbers and where they
 * are, the federal and state calling windows and frequency caps, reply keywords, and the send
 * decision that combines them (send now, defer until when, or refuse).
 *
 * @module
 */
export * from "./area-codes.ts";
export * from "./consent.ts";
export * from "./countries.ts";
export * from "./frequency-cap.ts";
export * from "./holidays.ts";
export * from "./inbound.ts";
export * from "./keywords.ts";
export * from "./phone.ts";
export * from "./quiet-hours.ts";
export * from "./send-decision.ts";
export * from "./state-rules.ts";
