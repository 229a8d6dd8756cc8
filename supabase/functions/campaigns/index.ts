// campaigns: a signed-in member previews, creates, pauses, resumes or cancels a campaign.
import { authConfigFromEnv, createVerifier } from "@shared/runtime/auth.ts";
import { depsFromEnv, serveFunction } from "@shared/runtime/function.ts";
import { twilioClientFromEnv } from "@shared/twilio/client.ts";
import { campaignSettingsFromEnv, createCampaignsHandler } from "./handler.ts";

const env = Deno.env.toObject();
const deps = depsFromEnv(env, { twilio: twilioClientFromEnv(env) });

Deno.serve(serveFunction(
  "campaigns",
  createCampaignsHandler(deps, {
    verify: createVerifier(authConfigFromEnv(env)),
    settings: campaignSettingsFromEnv(env),
  }),
));
