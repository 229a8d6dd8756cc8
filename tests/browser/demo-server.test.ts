/**
 * The demo page's server, without a browser: the page and its CSP, the bundle (supabase-js and
 * the common module, built for the browser from the local cache), the seeded users, and the
 * customer and campaign lists read as the user, so RLS decides what they hold.
 */
import assert from "node:assert/strict";
import { campaigns } from "@shared/contract/client.ts";
import { db, stack } from "../support/stack.ts";
import { createCustomer, userClient } from "../support/sms.ts";

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
  assert.ok(code.includes("/api/campaigns"), "the bundle has the campaign composer");
  assert.ok(html.includes('href="/campaign"'), "links to the campaign page");

  const composer = await get("/campaign");
  assert.equal(composer.status, 200);
  assert.equal(composer.headers.get("content-security-policy"), csp);
  const composerHtml = await composer.text();
  assert.match(composerHtml, /<script type="module" src="\/app\.js"><\/script>/);
  for (const id of ["user", "campaign-business", "campaign-name", "template"]) {
    assert.ok(composerHtml.includes(`<label for="${id}">`), `label for #${id}`);
  }
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
  assert.ok(acmeCustomers.every((c) => typeof (c as { texted?: unknown }).texted === "boolean"));
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

Deno.test("demo server: campaigns with their progress as the user (RLS)", async () => {
  const acmeId = stack().seed.businesses.find((b) => b.name === "Acme Plumbing")!.id;
  const bayId = stack().seed.businesses.find((b) => b.name === "Bay Dental")!.id;
  const sql = db();
  const customer = await createCustomer(sql, { businessId: acmeId }).finally(() => sql.end());
  // Two hours ahead: nothing is sent while the test looks; cancelled at the end.
  const at = new Date(Date.now() + 2 * 3600_000).toISOString();
  const owner = userClient("owner@acme.test");
  const created = await campaigns(owner, {
    action: "create",
    name: "demo server",
    businessId: acmeId,
    template: "Hi {{first_name|there}}, a test offer.",
    audience: { customerIds: [customer.id] },
    schedule: { kind: "at", at },
  });
  assert.ok(created.ok, JSON.stringify(created));
  const campaignId = created.data.campaignId;
  try {
    interface List {
      businesses: { id: string; name: string; brand: string; disclosure: string }[];
      campaigns: {
        id: string;
        businessId: string;
        status: string;
        recipients: number;
        queued: number;
        delivered: number;
        errors: unknown[];
        optOuts: number;
      }[];
    }
    const list = async (email: string) => {
      const res = await get(`/api/campaigns?user=${encodeURIComponent(email)}`);
      assert.equal(res.status, 200);
      return await res.json() as List;
    };
    const acme = await list("owner@acme.test");
    assert.deepEqual(acme.businesses, [{
      id: acmeId,
      name: "Acme Plumbing",
      brand: "Acme Plumbing",
      disclosure: "first_message",
    }]);
    const mine = acme.campaigns.find((c) => c.id === campaignId);
    assert.ok(mine, "the owner sees the campaign");
    assert.equal(mine.businessId, acmeId);
    assert.equal(mine.status, "scheduled");
    assert.deepEqual([mine.recipients, mine.queued, mine.delivered], [1, 1, 0]);
    assert.deepEqual([mine.errors, mine.optOuts], [[], 0]);
    assert.ok(acme.campaigns.every((c) => c.businessId === acmeId));

    const bay = await list("owner@bay.test");
    assert.deepEqual(bay.businesses.map((b) => b.id), [bayId]);
    assert.ok(!bay.campaigns.some((c) => c.id === campaignId), "another business sees none");
    assert.ok(bay.campaigns.every((c) => c.businessId === bayId));

    const unknown = await get("/api/campaigns?user=nobody@example.com");
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, "unknown_user");
  } finally {
    const cancelled = await campaigns(owner, { action: "cancel", campaignId });
    assert.ok(cancelled.ok, JSON.stringify(cancelled));
  }
});
