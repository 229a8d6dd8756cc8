import assert from "node:assert/strict";
import { generateKeyPair, SignJWT } from "jose";
import { edgeDenoVersion } from "@local/edge-deno.ts";
import { mintUserToken } from "@local/keys.ts";
import { stack } from "../support/stack.ts";

const info = stack();
const acmeUser = info.seed.businesses[0].users[0];

async function call(
  name: string,
  init: RequestInit & { path?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${info.functionsUrl}/${name}${init.path ?? ""}`, {
    method: "POST",
    body: "{}",
    ...init,
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: res.status, body };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function stackKeys() {
  const raw = await Deno.readTextFile(`${info.stateDir}/jwt-keys.json`);
  return JSON.parse(raw);
}

Deno.test("verify_jwt function: no token → 401 before the function runs", async () => {
  const r = await call("echo");
  assert.equal(r.status, 401);
  assert.notEqual(r.body.function, "echo");
});

Deno.test("verify_jwt function: malformed token → 401", async () => {
  for (const token of ["abc", "a.b.c", "Bearer", ""]) {
    const r = await call("echo", { headers: bearer(token) });
    assert.equal(r.status, 401, `token ${JSON.stringify(token)}`);
  }
  const basic = await call("echo", { headers: { authorization: "Basic dXNlcjpwYXNz" } });
  assert.equal(basic.status, 401);
});

Deno.test("verify_jwt function: token signed by another key → 401", async () => {
  const { privateKey } = await generateKeyPair("ES256");
  const keys = await stackKeys();
  // Same kid as the stack's key, so only the signature gives it away.
  const forged = await new SignJWT({ role: "authenticated" })
    .setProtectedHeader({ alg: "ES256", kid: keys.kid })
    .setSubject(acmeUser.id)
    .setAudience("authenticated")
    .setExpirationTime("1h")
    .sign(privateKey);
  const r = await call("echo", { headers: bearer(forged) });
  assert.equal(r.status, 401);
});

Deno.test("verify_jwt function: expired token → 401", async () => {
  const keys = await stackKeys();
  const expired = await mintUserToken(keys, { sub: acmeUser.id, email: acmeUser.email }, {
    issuer: `${info.apiUrl}/auth/v1`,
    expiresIn: -60,
  });
  const r = await call("echo", { headers: bearer(expired) });
  assert.equal(r.status, 401);
});

Deno.test("verify_jwt function: a valid user token reaches the function", async () => {
  const r = await call("echo", {
    headers: bearer(info.tokens.users[acmeUser.email]),
    path: "/sub/path?x=1",
    body: "hello",
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.function, "echo");
  assert.equal(r.body.path, "/echo/sub/path");
  assert.equal(r.body.body, "hello");
  assert.equal(r.body.authorized, true);
});

Deno.test("a function sees only the environment it would have on Supabase", async () => {
  const r = await call("echo", { headers: bearer(info.tokens.serviceRole) });
  assert.equal(r.status, 200);
  const keys = r.body.envKeys as string[];
  for (
    const k of [
      "SUPABASE_URL",
      "SUPABASE_DB_URL",
      "SUPABASE_JWKS",
      "SUPABASE_ANON_KEY",
      "SUPABASE_SERVICE_ROLE_KEY",
      "SUPABASE_PUBLISHABLE_KEYS",
      "SUPABASE_SECRET_KEYS",
      "TWILIO_WEBHOOK_URL",
    ]
  ) {
    assert.ok(keys.includes(k), `${k} is set`);
  }
  for (const k of keys) {
    assert.match(
      k,
      /^(SUPABASE_|TWILIO_|PROCESS_RETRIES_SECRET$|DENO_DIR$|DENO_NO_PACKAGE_JSON$|TZ$)/,
    );
  }
  assert.ok(!keys.includes("STACK_JSON"), "the test runner's variables do not leak in");
  assert.ok(!keys.includes("SUPABASE_JWT_SECRET"), "the platform gives no such variable");
  // The platform's formats: JWKS as {keys: [...]} of public keys, API keys as a JSON dictionary.
  assert.deepEqual(r.body.jwks, {
    form: "object",
    keys: info.authMode === "legacy"
      ? [{ kty: "oct", alg: null, private: false }]
      : [{ kty: "EC", alg: "ES256", private: false }],
  });
  assert.deepEqual(r.body.publishableKeys, ["default"]);
});

Deno.test("functions run on the Deno the edge runtime embeds", async () => {
  const r = await call("echo", { headers: bearer(info.tokens.serviceRole) });
  assert.equal(r.body.deno, edgeDenoVersion());
  assert.notEqual(r.body.deno, Deno.version.deno, "not the tooling's Deno");
});

Deno.test("verify_jwt = false function is reachable without a token", async () => {
  const r = await call("echo-default", { body: "x" });
  assert.equal(r.status, 200);
  assert.equal(r.body.function, "echo-default");
  assert.equal(r.body.path, "/echo-default");
});

Deno.test("OPTIONS preflight is answered with CORS headers, no token needed", async () => {
  const res = await fetch(`${info.functionsUrl}/echo`, {
    method: "OPTIONS",
    headers: {
      origin: "http://localhost:3000",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type, x-client-info, apikey",
    },
  });
  await res.body?.cancel();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const allowed = res.headers.get("access-control-allow-headers") ?? "";
  for (const h of ["authorization", "content-type", "x-client-info", "apikey"]) {
    assert.ok(allowed.includes(h), `${h} allowed`);
  }
  assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
});

Deno.test("unknown function → 404; JWKS is served", async () => {
  const r = await call("no-such-function", { headers: bearer(info.tokens.serviceRole) });
  assert.equal(r.status, 404);
  const jwks = await (await fetch(info.jwksUrl)).json();
  assert.equal(jwks.keys.length, 1);
  assert.equal(jwks.keys[0].alg, "ES256");
  assert.equal(jwks.keys[0].d, undefined, "no private part in the JWKS");
});

Deno.test("a function process that dies is restarted", async () => {
  const first = await call("echo-default");
  assert.equal(first.status, 200);
  await call("echo-default", { path: "/exit" });
  const deadline = Date.now() + 20_000;
  let after: { status: number; body: Record<string, unknown> } | null = null;
  while (Date.now() < deadline) {
    after = await call("echo-default");
    if (after.status === 200 && after.body.pid !== first.body.pid) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(after?.status, 200);
  assert.notEqual(after?.body.pid, first.body.pid, "served by a new process");
});
