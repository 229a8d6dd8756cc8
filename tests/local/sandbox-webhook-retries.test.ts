/**
 * The sandbox retries webhooks as Twilio does: by the URL's connection overrides (`rc` retries
 * of the failures `rp` names, within `tt`), else once on a failed connection only (Twilio's
 * defaults rc=1, rp=ct). A retry is the same request: same token, same signature, over the URL
 * without its fragment. https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides
 */
import assert from "node:assert/strict";
import twilio from "twilio";
import { postSignedForm, retryPolicyOf } from "@local/sandbox/webhook.ts";

const TOKEN = "fedcba9876543210".repeat(2);
const PARAMS = { MessageSid: `SM${"c".repeat(32)}`, MessageStatus: "sent" };

/** A target answering `statuses` in turn (the last one from then on), recording each request. */
function target(statuses: number[]) {
  const seen: { url: string; signature: string | null; token: string | null }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    await req.text();
    seen.push({
      url: req.url,
      signature: req.headers.get("x-twilio-signature"),
      token: req.headers.get("i-twilio-idempotency-token"),
    });
    const status = statuses[Math.min(seen.length - 1, statuses.length - 1)];
    return new Response("<Response/>", { status });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/hook`, seen, close: () => server.shutdown() };
}

function post(url: string) {
  return postSignedForm({
    url,
    params: PARAMS,
    authToken: TOKEN,
    idempotencyToken: "token-1",
    signal: new AbortController().signal,
  });
}

Deno.test("sandbox webhooks: overrides parse as Twilio documents them", () => {
  const none = retryPolicyOf("http://x.test/a?b=1");
  assert.equal(none.target, "http://x.test/a?b=1");
  assert.equal(none.policy.retries, 1);
  assert.deepEqual([...none.policy.on], ["ct"]);
  assert.equal(none.policy.totalMs, 15_000);
  const app = retryPolicyOf("http://x.test/a?b=1#ct=3000&rt=5000&tt=15000&rc=5&rp=ct,rt,5xx");
  assert.equal(app.target, "http://x.test/a?b=1");
  assert.equal(app.policy.retries, 5);
  assert.deepEqual([...app.policy.on].sort(), ["5xx", "ct", "rt"]);
  assert.equal(app.policy.readTimeoutMs, 5000);
  assert.deepEqual([...retryPolicyOf("http://x.test/#rp=all").policy.on].sort(), [
    "4xx",
    "5xx",
    "ct",
    "rt",
  ]);
  // Out of Twilio's ranges: its defaults.
  assert.equal(retryPolicyOf("http://x.test/#rc=9").policy.retries, 1);
});

Deno.test("sandbox webhooks: 5xx retried per rc/rp, the same signed request each time", async () => {
  const t = target([503, 500, 200]);
  try {
    const outcome = await post(`${t.url}#rc=5&rp=5xx`);
    assert.equal(outcome.httpStatus, 200);
    assert.equal(outcome.attempts, 3);
    assert.equal(t.seen.length, 3);
    for (const s of t.seen) {
      assert.equal(new URL(s.url).hash, "", "no fragment goes over the wire");
      assert.equal(s.token, "token-1");
      assert.equal(s.signature, t.seen[0].signature);
      assert.equal(twilio.validateRequest(TOKEN, s.signature!, t.url, PARAMS), true);
    }
  } finally {
    await t.close();
  }
});

Deno.test("sandbox webhooks: without overrides a 5xx is not retried; rc bounds the attempts", async () => {
  const t = target([500]);
  try {
    const once = await post(t.url);
    assert.equal(once.httpStatus, 500);
    assert.equal(once.attempts, 1);
    assert.equal(t.seen.length, 1);
    const six = await post(`${t.url}#rc=5&rp=ct,rt,5xx`);
    assert.equal(six.attempts, 6);
    assert.equal(t.seen.length, 7);
    // 4xx is left out of the app's policy: a refusal stays a refusal.
    const forbidden = target([403]);
    try {
      assert.equal((await post(`${forbidden.url}#rc=5&rp=ct,rt,5xx`)).attempts, 1);
      assert.equal(forbidden.seen.length, 1);
    } finally {
      await forbidden.close();
    }
  } finally {
    await t.close();
  }
});

Deno.test("sandbox webhooks: a refused connection is retried once by default, rc times with rp=ct", async () => {
  // A port that was just free: nothing listens there.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const url = `http://127.0.0.1:${port}/hook`;
  const byDefault = await post(url);
  assert.equal(byDefault.httpStatus, null);
  assert.equal(byDefault.attempts, 2);
  assert.equal((await post(`${url}#rc=3&rp=ct`)).attempts, 4);
  assert.equal((await post(`${url}#rc=3&rp=5xx`)).attempts, 1);
});
