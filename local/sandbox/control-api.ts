/**
 * The sandbox's own JSON API under `/api/`, for tests and people: what it received, simulated
 * inbound messages, and runtime configuration.
 * @module
 */
import { applyConfigPatch, cloneConfig } from "./config.ts";
import type { SandboxContext } from "./context.ts";
import { conversationsView } from "./conversations.ts";
import { parseInboundInput, simulateInbound } from "./inbound.ts";
import { toMessageResource } from "./resource.ts";
import { json, jsonError, readJson } from "./responses.ts";
import type { StoredMessage } from "./store.ts";
import { errors, twilioErrorResponse } from "./twilio-errors.ts";

/**
 * A stored message for the JSON API: Twilio's resource plus what only the sandbox knows
 * (callback URL, validity period, encoding, and the timeline of status callbacks).
 */
export function describeMessage(ctx: SandboxContext, m: StoredMessage) {
  return {
    ...toMessageResource(m, ctx.accountSid),
    status_callback: m.statusCallback,
    validity_period: m.validityPeriod,
    encoding: m.encoding,
    opt_out_type: m.optOutType,
    webhook: m.webhook,
    ...(m.direction === "inbound" ? { replies: m.replies ?? [] } : {}),
    timeline: m.timeline,
  };
}

type Route = (ctx: SandboxContext, request: Request) => Promise<Response> | Response;

const ROUTES: Record<string, Partial<Record<string, Route>>> = {
  "/api/messages": {
    GET: (ctx) => json(ctx.store.all("outbound-api").map((m) => describeMessage(ctx, m))),
    DELETE: (ctx) => {
      ctx.store.clear();
      return new Response(null, { status: 204 });
    },
  },
  // Answers once no callback, inbound post or held request is in flight (each callback's
  // webhook has answered, so what it wrote is committed): a test's condition, not a sleep.
  "/api/idle": {
    GET: async (ctx) => {
      await ctx.tasks.idle();
      return new Response(null, { status: 204 });
    },
  },
  "/api/conversations": {
    GET: (ctx) => json(conversationsView(ctx)),
  },
  "/api/attempts": {
    GET: (ctx) => json(ctx.store.attempts()),
  },
  "/api/opt-outs": {
    GET: (ctx) => json(ctx.store.optOuts()),
  },
  "/api/inbound": {
    GET: (ctx) => json(ctx.store.all("inbound").map((m) => describeMessage(ctx, m))),
    POST: async (ctx, request) => {
      const body = await readJson(request);
      if (!body.ok) return jsonError(400, "invalid_json", "body must be JSON");
      const parsed = parseInboundInput(body.value, ctx.phoneNumbers);
      if (!parsed.ok) return jsonError(400, "invalid_request", parsed.error);
      const result = await simulateInbound(ctx, parsed.input);
      if (!result.ok) {
        return jsonError(
          result.httpStatus,
          result.httpStatus === 409 ? "not_configured" : "webhook_unreachable",
          result.error,
        );
      }
      return json({ ...result.answer, messageSid: result.message.sid });
    },
  },
  "/api/config": {
    GET: (ctx) => json(cloneConfig(ctx.config())),
    POST: async (ctx, request) => {
      const body = await readJson(request);
      if (!body.ok) return jsonError(400, "invalid_json", "body must be JSON");
      if (typeof body.value !== "object" || body.value === null || Array.isArray(body.value)) {
        return jsonError(400, "invalid_request", "body must be a JSON object");
      }
      const { reset, ...patch } = body.value as Record<string, unknown>;
      if (reset !== undefined && typeof reset !== "boolean") {
        return jsonError(400, "invalid_request", "reset must be a boolean");
      }
      const base = reset ? ctx.defaults() : ctx.config();
      const result = applyConfigPatch(base, patch);
      if (!result.ok) return jsonError(400, "invalid_config", result.error);
      ctx.setConfig(result.config);
      ctx.log("config updated");
      return json(cloneConfig(result.config));
    },
  },
};

/** Handles any request under `/api/`. */
export async function handleControlApi(ctx: SandboxContext, request: Request, url: URL) {
  const methods = ROUTES[url.pathname];
  if (!methods) return twilioErrorResponse(errors.notFound(url.pathname));
  const route = methods[request.method];
  if (!route) return twilioErrorResponse(errors.methodNotAllowed(request.method));
  return await route(ctx, request);
}
