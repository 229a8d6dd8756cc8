import assert from "node:assert/strict";
import { base64url, exportJWK, generateKeyPair, SignJWT } from "jose";
import { authConfigFromEnv, createVerifier } from "@shared/runtime/auth.ts";
import { isSmsError } from "@shared/contract/errors.ts";

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

const SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const octKey = (secret: string, extra: Record<string, string> = {}) => ({
  kty: "oct",
  k: base64url.encode(secret),
  ...extra,
});

Deno.test("authConfigFromEnv: the platform's SUPABASE_JWKS in both forms, or the project URL", async () => {
  assert.deepEqual(authConfigFromEnv({ SUPABASE_URL: "https://x.supabase.co/" }), {
    jwksUrl: "https://x.supabase.co/auth/v1/.well-known/jwks.json",
  });
  const { jwks } = await es256();
  const object = authConfigFromEnv({ SUPABASE_JWKS: JSON.stringify(jwks) });
  const array = authConfigFromEnv({ SUPABASE_JWKS: JSON.stringify(jwks.keys) });
  assert.deepEqual(object, { jwks });
  assert.deepEqual(array, object, "a bare array means the same keys");
  // The CLI's legacy form: the secret as an oct key beside the public keys, no kid, no alg.
  const legacy = authConfigFromEnv({
    SUPABASE_JWKS: JSON.stringify({ keys: [...jwks.keys, octKey(SECRET)] }),
  });
  assert.deepEqual(legacy.jwks, jwks, "the secret is not a public key");
  assert.deepEqual(legacy.secrets, [{ key: new TextEncoder().encode(SECRET) }]);
  for (const bad of ["{", '"keys"', '{"keys":{}}', "[1]", "null"]) {
    assert.throws(() => authConfigFromEnv({ SUPABASE_JWKS: bad }), /SUPABASE_JWKS/, bad);
  }
  // Auth's user endpoint is known with the project URL and an API key, new form first.
  const keys = authConfigFromEnv({
    SUPABASE_URL: "https://x.supabase.co",
    SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_abc"}',
    SUPABASE_ANON_KEY: "legacy-anon",
  });
  assert.equal(keys.authUserUrl, "https://x.supabase.co/auth/v1/user");
  assert.equal(keys.apiKey, "sb_publishable_abc");
  assert.equal(
    authConfigFromEnv({ SUPABASE_URL: "https://x.supabase.co", SUPABASE_ANON_KEY: "a" }).apiKey,
    "a",
  );
});

Deno.test("send-sms boots on every form of SUPABASE_JWKS (array, object, legacy oct)", async () => {
  const { privateKey, jwks } = await es256();
  const user = await token({ role: "authenticated" })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
  const hs = await token({ role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(SECRET));
  for (
    const value of [jwks.keys, jwks, { keys: [...jwks.keys, octKey(SECRET)] }, [octKey(SECRET)]]
  ) {
    const verify = createVerifier(authConfigFromEnv({ SUPABASE_JWKS: JSON.stringify(value) }));
    const hasEc = JSON.stringify(value).includes('"EC"');
    const hasOct = JSON.stringify(value).includes('"oct"');
    if (hasEc) assert.equal((await verify(`Bearer ${user}`)).id, USER);
    else await rejects(verify(`Bearer ${user}`), "no public key");
    if (hasOct) assert.equal((await verify(`Bearer ${hs}`)).id, USER);
    else await rejects(verify(`Bearer ${hs}`), "no secret and no Auth to ask");
  }
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

Deno.test("HS256 tokens: checked against the oct keys, matched by kid when both have one", async () => {
  const secret = new TextEncoder().encode(SECRET);
  const hs = await token({ role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
    .sign(secret);
  assert.equal((await createVerifier({ secrets: [{ key: secret }] })(`Bearer ${hs}`)).id, USER);
  await rejects(createVerifier({ jwks: { keys: [] } })(`Bearer ${hs}`), "no secret configured");
  const other = new TextEncoder().encode("another-secret-of-at-least-thirty-two-chars");
  await rejects(createVerifier({ secrets: [{ key: other }] })(`Bearer ${hs}`), "wrong secret");
  const kidded = await token({ role: "authenticated" })
    .setProtectedHeader({ alg: "HS256", kid: "legacy" }).sign(secret);
  const two = createVerifier({
    secrets: [{ kid: "old", key: other }, { kid: "legacy", key: secret }],
  });
  assert.equal((await two(`Bearer ${kidded}`)).id, USER);
  await rejects(
    createVerifier({ secrets: [{ kid: "old", key: secret }] })(`Bearer ${kidded}`),
    "a secret with another kid is not tried",
  );
});

Deno.test("HS256 with no secret here: Supabase Auth decides, as getClaims() does", async () => {
  const hs = await token({ role: "authenticated" }).setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(SECRET));
  const asked: Request[] = [];
  const auth = (status: number) => (input: RequestInfo | URL, init?: RequestInit) => {
    asked.push(new Request(input, init));
    return Promise.resolve(new Response(JSON.stringify({ id: USER }), { status }));
  };
  const config = { authUserUrl: "https://x.supabase.co/auth/v1/user", apiKey: "sb_publishable_a" };
  assert.equal((await createVerifier(config, { fetch: auth(200) })(`Bearer ${hs}`)).id, USER);
  assert.equal(asked[0].headers.get("authorization"), `Bearer ${hs}`);
  assert.equal(asked[0].headers.get("apikey"), "sb_publishable_a");
  await rejects(createVerifier(config, { fetch: auth(401) })(`Bearer ${hs}`), "Auth refused it");
  const expired = await token({ role: "authenticated" }, "-1m").setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(SECRET));
  await rejects(createVerifier(config, { fetch: auth(200) })(`Bearer ${expired}`), "expired");
  // With a secret configured, Auth is never asked (a wrong token stays wrong).
  const key = new TextEncoder().encode("another-secret-of-at-least-thirty-two-chars");
  asked.length = 0;
  await rejects(
    createVerifier({ ...config, secrets: [{ key }] }, { fetch: auth(200) })(`Bearer ${hs}`),
    "secret mismatch",
  );
  assert.equal(asked.length, 0);
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
