/**
 * Access to the running stack for tests: `npm test` boots one and points `STACK_JSON` at its
 * stack.json; outside it, the `npm start` stack in `.local/` is used.
 */
import postgres from "postgres";
import type { StackInfo } from "@local/stack.ts";
import { join, PROJECT_ROOT } from "@local/paths.ts";

let cached: StackInfo | null = null;

/** The running stack's connection details, tokens and seed ids. */
export function stack(): StackInfo {
  if (cached) return cached;
  const path = Deno.env.get("STACK_JSON") ?? join(PROJECT_ROOT, ".local", "stack.json");
  try {
    cached = JSON.parse(Deno.readTextFileSync(path)) as StackInfo;
  } catch {
    throw new Error(`no running stack (${path}); run the tests with \`npm test\``);
  }
  return cached;
}

/** A small postgres.js pool on the stack's database; close it with `sql.end()`. */
export function db(max = 2): postgres.Sql {
  return postgres(stack().dbUrl, { max, onnotice: () => {} });
}

/**
 * A pool as `supabase_admin`, the platform's superuser. Only for what the hosted platform would do
 * itself (server settings, the platform stand-ins); application work uses `db()` as `postgres`.
 */
export function adminDb(max = 1): postgres.Sql {
  return postgres(stack().adminDbUrl, { max, onnotice: () => {} });
}
