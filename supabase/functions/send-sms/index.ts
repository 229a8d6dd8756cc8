// send-sms: a signed-in user texts one of their business's customers.
import { authConfigFromEnv, createVerifier } from "@shared/runtime/auth.ts";
import { depsFromEnv, serveFunction } from "@shared/runtime/function.ts";
import { twilioClientFromEnv } from "@shared/twilio/client.ts";
import { createSendSmsHandler } from "./handler.ts";

const env = Deno.env.toObject();
const twilioClient = twilioClientFromEnv(env);
const deps = depsFromEnv(env, { twilio: twilioClient });
const maxSegments = Number(env.SMS_MAX_SEGMENTS_PER_MESSAGE) || undefined;
const dailyQuota = env.SMS_DAILY_QUOTA ? Number(env.SMS_DAILY_QUOTA) : undefined;

Deno.serve(serveFunction(
  "send-sms",
  createSendSmsHandler(deps, {
    verify: createVerifier(authConfigFromEnv(env)),
    limits: { maxSegments },
    dailyQuota,
  }),
));
