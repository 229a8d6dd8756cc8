// twilio-webhook: Twilio's status callbacks and inbound replies. Public (verify_jwt = false): the
// X-Twilio-Signature over TWILIO_WEBHOOK_URL is its only gate. The logic is in handler.ts.
import { depsFromEnv, serveFunction } from "@shared/runtime/function.ts";
import { createWebhookHandler } from "./handler.ts";

// It answers Twilio with TwiML and never calls Twilio's API: no Twilio client, no twilio package.
const deps = depsFromEnv(Deno.env.toObject());
Deno.serve(serveFunction("twilio-webhook", createWebhookHandler(deps)));
