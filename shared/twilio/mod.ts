/**
 * Twilio: the client (sending and requests on `fetch`, no twilio library), the Messages list,
 * request signatures, and what each Twilio error code means.
 *
 * A function imports the module it needs rather than this entry, so its module graph holds only
 * what it runs (twilio-webhook never calls Twilio's API).
 *
 * @module
 */
export * from "./client.ts";
export * from "./errors.ts";
export * from "./messages.ts";
export * from "./signature.ts";
