/**
 * What runs every function: the environment and injected clients (`function.ts`), the database
 * pool and user-scoped transactions, user-token verification, HTTP helpers and structured logs.
 *
 * @module
 */
export * from "./auth.ts";
export * from "./db.ts";
export * from "./function.ts";
export * from "./http.ts";
export * from "./log.ts";
