/**
 * Twilio: the client (sending, and twilio's library for everything else), the Messages list,
 * request signatures, and what each Twilio error code means.
 *
 * A function imports the module it needs rather than this entry: `client.ts` names twilio's
 * package in a dynamic import, which a function that never calls Twilio (twilio-webhook) keeps
 * out of its module graph.
 *
 * @module
 */
export * from "./client.ts";
export * from "./errors.ts";
export * from "./messages.ts";
export * from "./signature.ts";
