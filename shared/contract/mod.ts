/**
 * The contract with the frontend: what send-sms and campaigns accept and answer, their errors, the
 * statuses, the message-length limit both sides apply, and `sendSms` and `campaigns` for
 * supabase-js. Browser-safe: no Deno, no I/O but the supabase-js call; the frontend package
 * (`packages/sms-client`) is built from this module.
 *
 * @module
 */
export * from "./campaigns.ts";
export * from "./client.ts";
export * from "./errors.ts";
export * from "./message-limits.ts";
export * from "./phone.ts";
export * from "./schemas.ts";
export * from "./statuses.ts";
