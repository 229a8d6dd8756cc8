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
  functions: FunctionProcess[];
  log: (line: string) => void;
}

const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type",
  "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-max-age": "86400",
};

// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
];

function json(status: number, body: unknown, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...CORS_HEADERS, ...extra },
  });
}

/** Builds the gateway's request handler (exported for tests that need no socket). */
export function gatewayHandler(options: GatewayOptions): Deno.ServeHandler {
  const keySet = createLocalJWKSet(options.jwks);
  const byName = new Map(options.functions.map((f) => [f.spec.name, f]));

  async function authorized(req: Request): Promise<boolean> {
    const header = req.headers.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) return false;
    try {
      await jwtVerify(match[1], keySet);
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
    for (const h of HOP_BY_HOP) headers.delete(h);
    headers.set("x-forwarded-host", url.host);
    headers.set("x-forwarded-proto", url.protocol.replace(":", ""));
    const target = `http://127.0.0.1:${fn.port}/${fn.spec.name}${match[2] ?? ""}${url.search}`;
    let upstream: Response;
    try {
      upstream = await fetch(target, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
        signal: req.signal,
      });
    } catch (e) {
      options.log(`gateway: ${fn.spec.name} unreachable: ${(e as Error).name}`);
      return json(502, { code: "BOOT_ERROR", message: "Function failed to respond" });
    }
    const out = new Headers(upstream.headers);
    for (const h of HOP_BY_HOP) out.delete(h);
    for (const [k, v] of Object.entries(CORS_HEADERS)) if (!out.has(k)) out.set(k, v);
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: out,
    });
  };
}

/** Starts the gateway; resolves once it listens. */
export function startGateway(options: GatewayOptions): Deno.HttpServer {
  return Deno.serve(
    { port: options.port, hostname: "127.0.0.1", onListen: () => {} },
    gatewayHandler(options),
  );
}
