/**
 * The local API gateway on the Supabase API port: `/functions/v1/<name>` to the function's
 * process (checking the JWT first when the function has `verify_jwt`), CORS preflight, and the
 * auth server's JWKS.
 */
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose";
import type { FunctionProcess } from "./functions.ts";

/** What the gateway serves. */
export interface GatewayOptions {
  port: number;
  /** Public JWKS; tokens for `verify_jwt` functions must verify against it. */
  jwks: JSONWebKeySet;
  /** Legacy projects: the JWT secret `verify_jwt` checks HS256 tokens with instead. */
  jwtSecret?: string;
  functions: FunctionProcess[];
}

const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type",
  "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-max-age": "86400",
};

function json(status: number, body: unknown, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...CORS_HEADERS, ...extra },
  });
}

/** Builds the gateway's request handler (exported for tests that need no socket). */
export function gatewayHandler(options: GatewayOptions): Deno.ServeHandler {
  const keySet = createLocalJWKSet(options.jwks);
  const secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : null;
  const byName = new Map(options.functions.map((f) => [f.spec.name, f]));

  async function authorized(req: Request): Promise<boolean> {
    const header = req.headers.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return false;
    try {
      if (secret) await jwtVerify(match[1], secret, { algorithms: ["HS256"] });
      else await jwtVerify(match[1], keySet);
      return true;
    } catch {
      return false;
    }
  }

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/auth/v1/.well-known/jwks.json") {
      return json(200, options.jwks, { "cache-control": "public, max-age=600" });
    }
    if (url.pathname === "/health") return json(200, { ok: true });
    // The local stack's own view of its function workers (tests read it; not a platform route).
    if (url.pathname === "/_local/functions") {
      return json(200, Object.fromEntries(options.functions.map((f) => [f.spec.name, f.stats()])));
    }

    const match = /^\/functions\/v1\/([a-z0-9][a-z0-9_-]*)(\/.*)?$/i.exec(url.pathname);
    if (!match) return json(404, { code: "not_found", message: "no route" });
    if (req.method === "OPTIONS") return new Response("ok", { status: 200, headers: CORS_HEADERS });

    const fn = byName.get(match[1]);
    if (!fn) {
      return json(404, { code: "NOT_FOUND", message: "Requested function was not found" });
    }
    if (fn.spec.verifyJwt && !(await authorized(req))) {
      return json(401, { code: "UNAUTHORIZED_INVALID_JWT_FORMAT", message: "Invalid JWT" });
    }

    const headers = new Headers(req.headers);
    headers.set("x-forwarded-host", url.host);
    headers.set("x-forwarded-proto", url.protocol.replace(":", ""));
    const upstream = await fn.dispatch(`/${fn.spec.name}${match[2] ?? ""}${url.search}`, {
      method: req.method,
      headers,
      body: req.body,
    });
    for (const [k, v] of Object.entries(CORS_HEADERS)) {
      if (!upstream.headers.has(k)) upstream.headers.set(k, v);
    }
    return upstream;
  };
}

/** Starts the gateway; resolves once it listens. */
export function startGateway(options: GatewayOptions): Deno.HttpServer {
  return Deno.serve(
    { port: options.port, hostname: "127.0.0.1", onListen: () => {} },
    gatewayHandler(options),
  );
}
