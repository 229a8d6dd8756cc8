/**
 * Message text: GSM-7/UCS-2 encoding, Smart Encoding and segment counting as Twilio computes
 * them, over grapheme clusters as Twilio's calculator splits them. Pure; browser-safe.
 *
 * @module
 */
export * from "./clip.ts";
export * from "./graphemes.ts";
export * from "./segments.ts";
