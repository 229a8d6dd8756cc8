/**
 * The local auth key: one ES256 key pair per stack, kept in the state folder so tokens stay valid
 * across restarts, published as a JWKS the way Supabase Auth publishes its signing keys.
 */
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

/** A private signing key and its public JWKS. */
export interface StackKeys {
  kid: string;
  privateJwk: JWK;
  jwks: { keys: JWK[] };
}

/** Loads the key pair from `path`, creating it on first use. */
export async function loadOrCreateKeys(path: string): Promise<StackKeys> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as StackKeys;
  } catch {
    // first start: create below
  }
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const kid = crypto.randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const keys: StackKeys = { kid, privateJwk, jwks: { keys: [publicJwk] } };
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
}

/** Signs an access token for a user, shaped like the ones Supabase Auth issues. */
export async function mintUserToken(
  keys: StackKeys,
  user: UserClaims,
  options: MintOptions,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({
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
    .setProtectedHeader({ alg: "ES256", kid: keys.kid, typ: "JWT" })
    .setSubject(user.sub)
    .setAudience("authenticated")
    .setIssuer(options.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + options.expiresIn)
    .sign(await importJWK(keys.privateJwk, "ES256"));
}

/** Signs an API key token (`anon` or `service_role`), as Supabase's legacy API keys are. */
export async function mintRoleToken(
  keys: StackKeys,
  role: "anon" | "service_role",
  options: MintOptions,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ role })
    .setProtectedHeader({ alg: "ES256", kid: keys.kid, typ: "JWT" })
    .setIssuer(options.issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + options.expiresIn)
    .sign(await importJWK(keys.privateJwk, "ES256"));
}
