/**
 * process-retries Edge Function: drains the SMS retry queue; called every minute by pg_cron with
 * the cron secret. The work is in handler.ts.
 *
 * @module
 */
import { depsFromEnv, serveFunction } from "@shared/runtime/function.ts";
import { twilioClientFromEnv } from "@shared/twilio/client.ts";
import { createProcessRetriesHandler } from "./handler.ts";

const env = Deno.env.toObject();
const twilioClient = twilioClientFromEnv(env);
const deps = depsFromEnv(env, { twilio: twilioClient });
Deno.serve(serveFunction("process-retries", createProcessRetriesHandler(deps)));
