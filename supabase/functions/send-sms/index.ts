// send-sms: a signed-in user texts one of their business's customers.
import { authConfigFromEnv, createVerifier } from "@shared/auth.ts";
import { depsFromEnv, serveFunction } from "@shared/function.ts";
import { twilioSenderFromEnv } from "@shared/twilio.ts";
import { createSendSmsHandler } from "./handler.ts";

const env = Deno.env.toObject();
const deps = depsFromEnv(env, twilioSenderFromEnv);
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
