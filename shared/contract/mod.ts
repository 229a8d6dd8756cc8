/**
 * The contract with the frontend: what send-sms accepts and answers, its errors, its statuses,
 * the message-length limit both sides apply, and `sendSms` for supabase-js. Browser-safe: no
 * Deno, no I/O but the supabase-js call; the frontend package (`packages/sms-client`) is built
 * from this module.
 *
 * @module
 */
export * from "./client.ts";
export * from "./errors.ts";
export * from "./message-limits.ts";
export * from "./phone.ts";
export * from "./schemas.ts";
export * from "./statuses.ts";
