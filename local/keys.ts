/**
 * The local auth keys: one ES256 key pair per stack (published as a JWKS the way Supabase Auth
 * publishes its signing keys) and a legacy JWT secret for projects still on HS256, kept in the
 * state folder so tokens stay valid across restarts.
 */
import { base64url, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";
import { hex } from "@shared/text/hex.ts";

/** A private signing key and its public JWKS, and the legacy symmetric secret. */
export interface StackKeys {
  kid: string;
  privateJwk: JWK;
  jwks: { keys: JWK[] };
  jwtSecret: string;
}

/**
 * How the local project signs tokens: asymmetric signing keys (new projects), or the legacy JWT
 * secret (HS256) that older projects still use.
 */
export type AuthMode = "asymmetric" | "legacy";

/** `bytes` random bytes as hex: the stack's generated secrets. */
export const randomHex = (bytes: number) => hex(crypto.getRandomValues(new Uint8Array(bytes)));

/** Loads the key pair from `path`, creating it on first use. */
export async function loadOrCreateKeys(path: string): Promise<StackKeys> {
  try {
    const keys = JSON.parse(await Deno.readTextFile(path)) as StackKeys;
    if (keys.jwtSecret) return keys;
  } catch {
    // first start: create below
  }
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = crypto.randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const keys: StackKeys = {
    kid,
    privateJwk,
    jwks: { keys: [publicJwk] },
    jwtSecret: randomHex(24),
  };
  await Deno.writeTextFile(path, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

/** Claims of a signed-in user, as Supabase Auth puts them in an access token. */
export interface UserClaims {
  sub: string;
  email: string;
}

/** Options for minting a token. */
export interface MintOptions {
  /** Issuer, `${SUPABASE_URL}/auth/v1` for user tokens. */
  issuer: string;
  /** Lifetime in seconds (negative for an already expired token in tests). */
  expiresIn: number;
  /** Legacy projects sign with the JWT secret (HS256, no kid); default asymmetric. */
  mode?: AuthMode;
}

/** The JWKS Supabase Auth publishes: a legacy project has no public key to show. */
export function publicJwks(keys: StackKeys, mode: AuthMode): { keys: JWK[] } {
  return mode === "legacy" ? { keys: [] } : keys.jwks;
}

/**
 * `SUPABASE_JWKS` as the platform gives it to functions: `{ "keys": [...] }` with the public
 * signing keys, and on a legacy project the JWT secret as an `oct` key without kid or alg (the
 * shape the Supabase CLI builds in `pkg/config` `ResolveJWKS`).
 */
export function functionJwks(keys: StackKeys, mode: AuthMode): string {
  const oct = { kty: "oct", k: base64url.encode(keys.jwtSecret) };
  return JSON.stringify({ keys: mode === "legacy" ? [oct] : keys.jwks.keys });
}

/** Signs with the stack's key for `mode`: ES256 with its kid, or HS256 with the JWT secret. */
async function sign(jwt: SignJWT, keys: StackKeys, mode: AuthMode = "asymmetric") {
  if (mode === "legacy") {
    return await jwt.setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(keys.jwtSecret));
  }
  return await jwt.setProtectedHeader({ alg: "ES256", kid: keys.kid, typ: "JWT" })
    .sign(await importJWK(keys.privateJwk, "ES256"));
}

/** Signs an access token for a user, shaped like the ones Supabase Auth issues. */
export async function mintUserToken(
  keys: StackKeys,
  user: UserClaims,
  options: MintOptions,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    email: user.email,
    phone: "",
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: {},
    role: "authenticated",
    aal: "aal1",
    amr: [{ method: "password", timestamp: now }],
    session_id: crypto.randomUUID(),
    is_anonymous: false,
  })
    .setSubject(user.sub)
    .setAudience("authenticated")
    .setIssuer(options.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + options.expiresIn);
  return await sign(jwt, keys, options.mode);
}

/** Signs an API key token (`anon` or `service_role`), as Supabase's legacy API keys are. */
export async function mintRoleToken(
  keys: StackKeys,
  role: "anon" | "service_role",
  options: MintOptions,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ role })
    .setIssuer(options.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + options.expiresIn);
  return await sign(jwt, keys, options.mode);
}
