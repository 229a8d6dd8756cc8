/**
 * The seeded users' tokens stay valid while the stack runs: a new set is minted before the old
 * one expires, into the record the demo server reads and stack.json shows.
 */
import assert from "node:assert/strict";
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { loadOrCreateKeys, publicJwks } from "@local/keys.ts";
import { USER_TOKEN_REFRESH_MS, USER_TOKEN_TTL_SECONDS, UserTokens } from "@local/user-tokens.ts";
import { join } from "@local/paths.ts";

Deno.test("user tokens: minted for every user, refreshed in place before they expire", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sms-tokens-" });
  try {
    const keys = await loadOrCreateKeys(join(dir, "jwt-keys.json"));
    const users = [{ id: crypto.randomUUID(), email: "a@example.test" }, {
      id: crypto.randomUUID(),
      email: "b@example.test",
    }];
    let refreshed = 0;
    const tokens = new UserTokens(keys, users, {
      issuer: "http://127.0.0.1:1/auth/v1",
      mode: "asymmetric",
      ttlSeconds: 60,
      refreshMs: 200,
      onRefresh: () => {
        refreshed++;
        return Promise.resolve();
      },
    });
    await tokens.mint();
    const held = tokens.byEmail; // what the demo server and stack.json hold
    const first = { ...held };
    assert.deepEqual(Object.keys(first).sort(), ["a@example.test", "b@example.test"]);
    const claims = decodeJwt(first["a@example.test"]);
    assert.equal(claims.sub, users[0].id);
    assert.equal(claims.exp! - claims.iat!, 60);

    tokens.start();
    const deadline = Date.now() + 20_000;
    while (refreshed < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await tokens.stop();
    assert.ok(refreshed >= 1, "refreshed while running");
    assert.equal(tokens.byEmail, held, "the same record, updated in place");
    for (const u of users) {
      assert.notEqual(held[u.email], first[u.email], `${u.email}: a new token`);
      const { payload } = await jwtVerify(
        held[u.email],
        createLocalJWKSet(publicJwks(keys, "asymmetric")),
        {
          audience: "authenticated",
        },
      );
      assert.equal(payload.sub, u.id);
    }
    const after = refreshed;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(refreshed, after, "stopped: no more refreshes");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("user tokens: the stack's defaults refresh a day-long token every hour", () => {
  assert.equal(USER_TOKEN_TTL_SECONDS, 24 * 3600);
  assert.ok(
    USER_TOKEN_REFRESH_MS * 4 <= USER_TOKEN_TTL_SECONDS * 1000,
    "refreshed well before expiry",
  );
});
