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
export function createVerifier(config: AuthConfig, options: VerifierOptions = {}): Verifier {
  const keySet = config.jwks
    ? createLocalJWKSet(config.jwks)
    : config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000 })
    : null;
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : null;
  const verified = new VerifiedTokens(options);

  return async (authorization) => {
    const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(
      authorization?.trim() ?? "",
    );
    if (!match) throw unauthorized("A signed-in user's access token is required");
    const token = match[1];
    const known = verified.get(token);
    if (known) return known;
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("The access token is malformed");
    }
    let payload: JWTPayload;
    const currentDate = options.now ? new Date(options.now()) : undefined;
    try {
      if (alg === "HS256") {
        if (!secret) throw new Error("no HS256 secret");
        payload = (await jwtVerify(token, secret, { algorithms: ["HS256"], currentDate }))
          .payload;
      } else {
        if (!keySet) throw new Error("no JWKS configured");
        payload = (await jwtVerify(token, keySet, {
          algorithms: ["ES256", "RS256", "EdDSA"],
          currentDate,
        })).payload;
      }
    } catch {
      throw unauthorized("The access token is invalid or expired");
    }
    // Only signed-in users may send: the anon and service_role keys are not users.
    if (payload.role !== "authenticated" || typeof payload.sub !== "string") {
      throw unauthorized("The access token does not belong to a signed-in user");
    }
    const user: AuthUser = {
      id: payload.sub,
      email: typeof payload.email === "string" ? payload.email : undefined,
      claims: payload as AuthUser["claims"],
    };
    verified.add(token, user);
    return user;
  };
}

/** Options of {@link createVerifier}. */
export interface VerifierOptions {
  /** How long a verified token is trusted without checking its signature again (60 s). */
  cacheMs?: number;
  /** Tokens remembered at most (1,000). */
  cacheSize?: number;
  /** The clock (tests). */
  now?: () => number;
}

// A signature check (ES256) costs about half a millisecond of CPU, and a signed-in user sends
// with the same token for up to an hour: a token verified once is trusted until it expires or
// for cacheMs, whichever comes first. The token is the key, so nothing unverified is ever served.
class VerifiedTokens {
  #entries = new Map<string, { user: AuthUser; until: number }>();
  #ms: number;
  #size: number;
  #now: () => number;

  constructor(options: VerifierOptions) {
    this.#ms = options.cacheMs ?? 60_000;
    this.#size = options.cacheSize ?? 1_000;
    this.#now = options.now ?? Date.now;
  }

  get(token: string): AuthUser | null {
    const entry = this.#entries.get(token);
    if (!entry) return null;
    if (this.#now() < entry.until) return entry.user;
    this.#entries.delete(token);
    return null;
  }

  add(token: string, user: AuthUser) {
    const exp = typeof user.claims.exp === "number" ? user.claims.exp * 1000 : Infinity;
    const until = Math.min(exp, this.#now() + this.#ms);
    if (this.#ms <= 0 || until <= this.#now()) return;
    // Oldest first out: a Map iterates in insertion order.
    while (this.#entries.size >= this.#size) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(token, { user, until });
  }
}
