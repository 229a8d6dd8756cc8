/**
 * process-retries Edge Function: drains the SMS retry queue; called every minute by pg_cron with
 * the cron secret. The work is in handler.ts.
 *
 * @module
 */
import { depsFromEnv, serveFunction } from "@shared/function.ts";
import { twilioSenderFromEnv } from "@shared/twilio.ts";
import { createProcessRetriesHandler } from "./handler.ts";

const deps = depsFromEnv(Deno.env.toObject(), twilioSenderFromEnv);
Deno.serve(serveFunction("process-retries", createProcessRetriesHandler(deps)));
