/**
 * Verifies a Supabase user's access token inside a function, with the keys the platform gives
 * every function in `SUPABASE_JWKS`: asymmetric signing keys (ES256, RS256, EdDSA) and, on
 * projects still on the legacy JWT secret, that secret as a symmetric `oct` key (the Supabase
 * CLI's local stack puts it there: supabase/cli `pkg/config` `ResolveJWKS`). An HS256 token with
 * no secret to check it against is asked of Supabase Auth (`GET /auth/v1/user`), which is what
 * supabase-js `auth.getClaims()` does with symmetric tokens.
 *
 * @module
 */
import {
  base64url,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { SmsError } from "../contract/errors.ts";

/** Where the verifier finds its keys. */
export interface AuthConfig {
  /** Public signing keys given inline (`SUPABASE_JWKS`, without its `oct` keys). */
  jwks?: JSONWebKeySet;
  /** Where to fetch the public keys when none are given inline. */
  jwksUrl?: string;
  /** Legacy symmetric secrets (the `oct` keys of `SUPABASE_JWKS`), by `kid` when they have one. */
  secrets?: { kid?: string; key: Uint8Array }[];
  /** Supabase Auth's user endpoint and an API key, for HS256 tokens no secret here can check. */
  authUserUrl?: string;
  apiKey?: string;
}

/** The signed-in user a token identifies. */
export interface AuthUser {
  id: string;
  email?: string;
  /** Every claim of the token, for `request.jwt.claims`. */
  claims: JWTPayload & { role: string; sub: string };
}

/**
 * Parses `SUPABASE_JWKS` as the platform formats it: `{ "keys": [...] }`, or a bare array of
 * keys (both seen; @supabase/server's `resolve-env` accepts both too).
 */
export function parseJwks(text: string): JWK[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error("SUPABASE_JWKS is not valid JSON");
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== "object" || k === null)) {
    throw new Error("SUPABASE_JWKS is neither a JWK array nor an object with a keys array");
  }
  return keys as JWK[];
}

/** The first key of a `SUPABASE_PUBLISHABLE_KEYS`-style JSON object, else `fallback`. */
function firstKey(json: string | undefined, fallback: string | undefined): string | undefined {
  try {
    const keys = JSON.parse(json ?? "");
    const value = keys?.default ?? Object.values(keys ?? {})[0];
    if (typeof value === "string" && value) return value;
  } catch {
    // not set or not JSON: the legacy key below
  }
  return fallback || undefined;
}

/** Reads the verifier's settings from the function's environment (the platform sets them all). */
export function authConfigFromEnv(env: Record<string, string | undefined>): AuthConfig {
  const config: AuthConfig = {};
  const url = env.SUPABASE_URL?.replace(/\/$/, "");
  const inline = env.SUPABASE_JWKS?.trim();
  if (inline) {
    const keys = parseJwks(inline);
    const secrets = keys.filter((k) => k.kty === "oct" && typeof k.k === "string");
    config.jwks = { keys: keys.filter((k) => k.kty !== "oct") };
    if (secrets.length) {
      config.secrets = secrets.map((k) => ({
        ...(k.kid ? { kid: k.kid } : {}),
        key: base64url.decode(k.k!),
      }));
    }
  } else if (url) {
    config.jwksUrl = `${url}/auth/v1/.well-known/jwks.json`;
  }
  const apiKey = firstKey(env.SUPABASE_PUBLISHABLE_KEYS, env.SUPABASE_ANON_KEY);
  if (url && apiKey) {
    config.authUserUrl = `${url}/auth/v1/user`;
    config.apiKey = apiKey;
  }
  return config;
}

/** A function that turns an `Authorization` header into the user, or throws `unauthorized`. */
export type Verifier = (authorization: string | null) => Promise<AuthUser>;

const unauthorized = (message: string) => new SmsError("unauthorized", message);

/** Builds a verifier; a remote JWKS is fetched once and cached by jose. */
export function createVerifier(config: AuthConfig, options: VerifierOptions = {}): Verifier {
  const keySet = config.jwks?.keys.length
    ? createLocalJWKSet(config.jwks)
    : config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000 })
    : null;
  const verified = new VerifiedTokens(options);
  const fetcher = options.fetch ?? fetch;

  async function symmetric(token: string, kid: string | undefined): Promise<JWTPayload> {
    const currentDate = options.now ? new Date(options.now()) : undefined;
    const candidates = (config.secrets ?? []).filter((s) => !kid || !s.kid || s.kid === kid);
    for (const { key } of candidates) {
      try {
        return (await jwtVerify(token, key, { algorithms: ["HS256"], currentDate })).payload;
      } catch {
        // the next secret, if any
      }
    }
    if (candidates.length || !config.authUserUrl || !config.apiKey) {
      throw new Error("HS256 token not verified");
    }
    // No secret here: Supabase Auth checks the token and says whose it is.
    const res = await fetcher(config.authUserUrl, {
      headers: { authorization: `Bearer ${token}`, apikey: config.apiKey },
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`Supabase Auth answered ${res.status}`);
    const payload = decodeJwt(token);
    const now = (options.now?.() ?? Date.now()) / 1000;
    if (typeof payload.exp === "number" && payload.exp <= now) throw new Error("expired");
    return payload;
  }

  return async (authorization) => {
    const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(
      authorization?.trim() ?? "",
    );
    if (!match) throw unauthorized("A signed-in user's access token is required");
    const token = match[1];
    const known = verified.get(token);
    if (known) return known;
    let header: { alg?: string; kid?: string };
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw unauthorized("The access token is malformed");
    }
    let payload: JWTPayload;
    const currentDate = options.now ? new Date(options.now()) : undefined;
    try {
      if (header.alg === "HS256") {
        payload = await symmetric(token, header.kid);
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
  /** HTTP client for Supabase Auth (tests). */
  fetch?: typeof fetch;
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
