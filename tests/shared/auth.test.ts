import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { authConfigFromEnv, createVerifier } from "@shared/auth.ts";
import { isSmsError } from "@shared/errors.ts";

const USER = "11111111-1111-4111-8111-111111111111";

async function es256() {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  return { privateKey, jwks: { keys: [jwk] } };
}

function token(claims: Record<string, unknown>, expiresIn = "1h") {
  return new SignJWT(claims).setSubject(USER).setIssuedAt().setExpirationTime(expiresIn);
}

async function rejects(p: Promise<unknown>, why: string) {
  await assert.rejects(p, (e) => isSmsError(e) && e.code === "unauthorized", why);
}

Deno.test("authConfigFromEnv: inline JWKS, project URL, legacy secret", () => {
  assert.deepEqual(authConfigFromEnv({ SUPABASE_URL: "https://x.supabase.co/" }), {
    jwksUrl: "https://x.supabase.co/auth/v1/.well-known/jwks.json",
  });
  const inline = authConfigFromEnv({ SUPABASE_JWKS: '{"keys":[]}', SUPABASE_JWT_SECRET: "s" });
  assert.deepEqual(inline, { jwks: { keys: [] }, jwtSecret: "s" });
  assert.throws(() => authConfigFromEnv({ SUPABASE_JWKS: "{" }), /not valid JSON/);
});

Deno.test("ES256 user token from the JWKS is accepted; others are refused", async () => {
  const { privateKey, jwks } = await es256();
  const verify = createVerifier({ jwks });
  const good = await token({ role: "authenticated", email: "a@b.test" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
  const user = await verify(`Bearer ${good}`);
  assert.equal(user.id, USER);
  assert.equal(user.email, "a@b.test");
  assert.equal(user.claims.role, "authenticated");

  const other = await es256();
  const forged = await token({ role: "authenticated" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(other.privateKey);
  await rejects(verify(`Bearer ${forged}`), "signed by another key");

  const expired = await token({ role: "authenticated" }, "-1m")
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
  await rejects(verify(`Bearer ${expired}`), "expired");

  const service = await token({ role: "service_role" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
  await rejects(verify(`Bearer ${service}`), "not a user");

  for (const header of [null, "", "Bearer", "Bearer x", "Basic abc", `Token ${good}`]) {
    await rejects(verify(header), `header ${header}`);
  }
});

Deno.test("HS256 tokens need the legacy secret", async () => {
  const secret = "super-secret-jwt-token-with-at-least-32-characters";
  const hs = await token({ role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(secret));
  assert.equal((await createVerifier({ jwtSecret: secret })(`Bearer ${hs}`)).id, USER);
  await rejects(createVerifier({ jwks: { keys: [] } })(`Bearer ${hs}`), "no secret configured");
  await rejects(createVerifier({ jwtSecret: "another" })(`Bearer ${hs}`), "wrong secret");
});

Deno.test("a verified token is remembered only until it expires", async () => {
  const { privateKey, jwks } = await es256();
  let now = Date.now();
  const verify = createVerifier({ jwks }, { now: () => now, cacheSize: 2 });
  const tokens = await Promise.all(
    ["a@b.test", "c@d.test", "e@f.test"].map((email) =>
      token({ role: "authenticated", email }, "10m")
        .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey)
    ),
  );
  for (const t of [...tokens, ...tokens]) {
    assert.equal((await verify(`Bearer ${t}`)).claims.role, "authenticated");
  }
  now += 11 * 60_000;
  await rejects(verify(`Bearer ${tokens[2]}`), "expired while remembered");
  const other = await es256();
  const forged = await token({ role: "authenticated" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(other.privateKey);
  await rejects(verify(`Bearer ${forged}`), "forged");
  await rejects(verify(`Bearer ${forged}`), "a refused token is not remembered");
});
