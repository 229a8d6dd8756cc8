/**
 * Identifier helpers: Twilio SIDs and webhook idempotency tokens.
 * @module
 */
import { hex } from "@shared/text/hex.ts";

/**
 * A Twilio-style SID: a two-letter prefix followed by 32 lowercase hex digits, which is the
 * shape twilio-node and the app's validators expect (e.g. `SM…` for messages).
 */
export function newSid(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return prefix + hex(bytes);
}

/**
 * A fresh value for `I-Twilio-Idempotency-Token`. One token per callback identity: a
 * duplicated delivery of the same callback reuses the token, as Twilio's retries do.
 */
export function newIdempotencyToken(): string {
  return crypto.randomUUID();
}
