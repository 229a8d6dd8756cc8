/**
 * Verifies a Supabase user's access token inside a function: against the project's JWKS
 * (asymmetric signing keys) and, for legacy projects, the HS256 JWT secret.
 *
 * @module
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { SmsError } from "./errors.ts";

/** Where the verifier finds its keys. */
export interface AuthConfig {
  /** A JWKS given inline (`SUPABASE_JWKS`). */
  jwks?: JSONWebKeySet;
  /** Where to fetch the JWKS (`${SUPABASE_URL}/auth/v1/.well-known/jwks.json`). */
  jwksUrl?: string;
  /** Legacy symmetric secret (`SUPABASE_JWT_SECRET`). */
  jwtSecret?: string;
}

/** The signed-in user a token identifies. */
export interface AuthUser {
  id: string;
  email?: string;
  /** Every claim of the token, for `request.jwt.claims`. */
  claims: JWTPayload & { role: string; sub: string };
}

/** Reads the verifier's settings from the function's environment. */
export function authConfigFromEnv(env: Record<string, string | undefined>): AuthConfig {
  const config: AuthConfig = {};
  const inline = env.SUPABASE_JWKS?.trim();
  if (inline) {
    try {
      config.jwks = JSON.parse(inline) as JSONWebKeySet;
    } catch {
      throw new Error("SUPABASE_JWKS is not valid JSON");
    }
  } else if (env.SUPABASE_URL) {
    config.jwksUrl = `${env.SUPABASE_URL.replace(/\/$/, "")}/auth/v1/.well-known/jwks.json`;
  }
  if (env.SUPABASE_JWT_SECRET) config.jwtSecret = env.SUPABASE_JWT_SECRET;
  return config;
}

/** A function that turns an `Authorization` header into the user, or throws `unauthorized`. */
export type Verifier = (authorization: string | null) => Promise<AuthUser>;

const unauthorized = (message: string) => new SmsError("unauthorized", message);

/** Builds a verifier; the remote JWKS is fetched once and cached by jose. */
export function createVerifier(config: AuthConfig): Verifier {
  const keySet = config.jwks
    ? createLocalJWKSet(config.jwks)
    : config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000 })
    : null;
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : null;

  return async (authorization) => {
    const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(
      authorization?.trim() ?? "",
    );
    if (!match) throw unauthorized("A signed-in user's access token is required");
    const token = match[1];
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("The access token is malformed");
    }
    let payload: JWTPayload;
    try {
      if (alg === "HS256") {
        if (!secret) throw new Error("no HS256 secret");
        payload = (await jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
      } else {
        if (!keySet) throw new Error("no JWKS configured");
        payload = (await jwtVerify(token, keySet, { algorithms: ["ES256", "RS256", "EdDSA"] }))
          .payload;
      }
    } catch {
      throw unauthorized("The access token is invalid or expired");
    }
    // Only signed-in users may send: the anon and service_role keys are not users.
    if (payload.role !== "authenticated" || typeof payload.sub !== "string") {
      throw unauthorized("The access token does not belong to a signed-in user");
    }
    return {
      id: payload.sub,
      email: typeof payload.email === "string" ? payload.email : undefined,
      claims: payload as AuthUser["claims"],
    };
  };
}
