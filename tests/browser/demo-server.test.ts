/**
 * The demo page's server, without a browser: the page and its CSP, the bundle (supabase-js and
 * the common module, built for the browser from the local cache), the seeded users, and the
 * customer list read as the user, so RLS decides what it holds.
 */
import assert from "node:assert/strict";
import { stack } from "../support/stack.ts";

const get = (path: string, init?: RequestInit) => fetch(`${stack().demoUrl}${path}`, init);

Deno.test("demo server: the page, a strict CSP and a browser bundle with no external imports", async () => {
  const page = await get("/");
  assert.equal(page.status, 200);
  const csp = page.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.ok(csp.includes(`connect-src 'self' ${new URL(stack().apiUrl).origin}`), csp);
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/app\.js"><\/script>/);
  assert.ok(html.includes(`href="${stack().sandboxUrl}/"`), "links to the inbox");
  for (const id of ["user", "customer", "body", "idempotency"]) {
    assert.ok(html.includes(`<label for="${id}">`), `label for #${id}`);
  }

  const app = await get("/app.js");
  assert.equal(app.status, 200);
  assert.match(app.headers.get("content-type") ?? "", /javascript/);
  const code = await app.text();
  assert.ok(code.length > 50_000, "supabase-js is bundled in");
  assert.doesNotMatch(code, /^\s*import\s.*from\s+["'](https?:|npm:|jsr:)/m);
  assert.ok(code.includes("send-sms"), "the bundle calls send-sms");
});

Deno.test("demo server: seeded users with their tokens; customers as the user (RLS)", async () => {
  const session = await (await get("/api/session")).json() as {
    apiUrl: string;
    anonKey: string;
    inboxUrl: string;
    users: { email: string; businesses: string[]; accessToken: string }[];
  };
  assert.equal(session.apiUrl, stack().apiUrl);
  assert.equal(session.anonKey, stack().tokens.anon);
  assert.equal(session.inboxUrl, stack().sandboxUrl);
  const acme = session.users.find((u) => u.email === "owner@acme.test");
  assert.ok(acme);
  assert.deepEqual(acme.businesses, ["Acme Plumbing"]);
  assert.equal(acme.accessToken, stack().tokens.users["owner@acme.test"]);

  const business = (id: string) => stack().seed.customers.find((c) => c.id === id)?.businessId;
  const acmeId = stack().seed.businesses.find((b) => b.name === "Acme Plumbing")!.id;
  const bayId = stack().seed.businesses.find((b) => b.name === "Bay Dental")!.id;
  const list = async (email: string) =>
    await (await get(`/api/customers?user=${encodeURIComponent(email)}`)).json() as {
      id: string;
      name: string;
      consent: string;
    }[];
  const acmeCustomers = await list("owner@acme.test");
  const bayCustomers = await list("owner@bay.test");
  assert.ok(acmeCustomers.length >= 9);
  assert.ok(acmeCustomers.every((c) => business(c.id) === undefined || business(c.id) === acmeId));
  assert.ok(bayCustomers.length >= 3);
  assert.ok(bayCustomers.every((c) => business(c.id) === undefined || business(c.id) === bayId));
  assert.ok(!bayCustomers.some((c) => acmeCustomers.some((a) => a.id === c.id)));

  const unknown = await get("/api/customers?user=nobody@example.com");
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, "unknown_user");
  const post = await get("/api/session", { method: "POST" });
  assert.equal(post.status, 405);
  await post.body?.cancel();
  const missing = await get("/nowhere");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
});
