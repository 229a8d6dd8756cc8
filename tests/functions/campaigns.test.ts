/**
 * The campaigns function end to end, behind the gateway, with process-retries draining into the
 * sandbox: the preview's reasons, create and drain (one message per eligible customer, progress
 * under RLS, done at the end), consent withdrawn after enqueue, cancel under a running drain, the
 * quota, and bad input (the contract's error and nothing written).
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import { asUser } from "@shared/runtime/db.ts";
import {
  type Answer,
  assertContractError,
  callCampaigns as campaigns,
  changedTables,
  info,
  invokeRetries,
  makeTenant,
  sandboxApi,
  sandboxConfig,
  sandboxMessages,
  snapshotAll,
  type Tenant,
  waitFor,
  zoneAtLocalHour,
} from "../reliability/support.ts";

const OTHER = info.tokens.users["owner@bay.test"];

const json = <T>(a: Answer) => a.json as T;

interface Figures {
  eligible: number;
  ineligible: Record<string, number>;
  segments: number;
  samples: { customerId: string; body: string }[];
  campaignId?: string;
  status?: string;
  cost: { total: number };
  firstDeliveryAt: string | null;
  lastDeliveryAt: string | null;
}

async function logsOf(sql: postgres.Sql, campaignId: string) {
  return await sql<{ id: string; to_phone: string; status: string; sid: string | null }[]>`
    select id, to_phone, status, provider_message_id ->> 'twilio_sid' as sid
      from public.send_logs where campaign_id = ${campaignId}::uuid order by to_phone`;
}

async function withTenant(
  label: string,
  customers: Parameters<typeof makeTenant>[2],
  fn: (sql: postgres.Sql, tenant: Tenant) => Promise<void>,
) {
  const sql = db(3);
  const tenant = await makeTenant(sql, label, customers);
  try {
    await withCronPaused(sql, () => fn(sql, tenant));
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
}

const day = () => zoneAtLocalHour(13);
const TEMPLATE = "Hi {{first_name|there}}, our spring offer is on.";

/** A create request for every customer of the tenant, sent now. */
const createBody = (tenant: Tenant, name: string, extra: Record<string, unknown> = {}) => ({
  action: "create",
  name,
  businessId: tenant.businessId,
  template: TEMPLATE,
  audience: { filter: {} },
  schedule: { kind: "now" },
  ...extra,
});

Deno.test("campaigns: the preview counts each reason, renders samples and writes nothing", async () => {
  await withTenant("camp preview", [
    { timeZone: day() },
    { timeZone: day() },
    { timeZone: day(), consent: "opted_out" },
    { timeZone: day(), consent: "unknown" },
    { timeZone: day(), phoneStatus: "landline" },
    { timeZone: "Europe/London", phone: "+447700900123" },
  ], async (sql, tenant) => {
    const before = await snapshotAll(sql);
    const a = await campaigns({
      action: "preview",
      businessId: tenant.businessId,
      template: TEMPLATE,
      audience: { filter: {} },
      schedule: { kind: "now" },
    });
    assert.equal(a.status, 200, a.text);
    const f = json<Figures>(a);
    assert.equal(f.eligible, 2);
    assert.deepEqual(f.ineligible, {
      no_consent: 1,
      opted_out: 1,
      invalid_phone: 1,
      country_not_permitted: 1,
      frequency_cap: 0,
      too_long: 0,
      no_window_before_expiry: 0,
    });
    assert.equal(f.segments, 2);
    // The first message to a number names the sender and says how to opt out (CTIA).
    assert.equal(
      f.samples[0].body,
      "rel camp preview: Hi camp, our spring offer is on. Reply STOP to opt out.",
    );
    assert.ok(f.cost.total > 0);
    assert.ok(f.firstDeliveryAt && f.lastDeliveryAt && f.firstDeliveryAt <= f.lastDeliveryAt);
    assert.deepEqual(changedTables(before, await snapshotAll(sql)), [], "nothing written");
  });
});

Deno.test("campaigns: create, drain and done — one message per eligible customer, progress under RLS", async () => {
  await withTenant("camp drain", [
    { timeZone: day() },
    { timeZone: day() },
    { timeZone: day() },
    { timeZone: day(), consent: "unknown" },
  ], async (sql, tenant) => {
    const created = await campaigns(createBody(tenant, "drain"));
    assert.equal(created.status, 201, created.text);
    const { campaignId, eligible } = json<Figures>(created);
    assert.equal(eligible, 3);
    const queued = await logsOf(sql, campaignId!);
    assert.deepEqual(queued.map((l) => l.status), ["deferred", "deferred", "deferred"]);
    const [skip] = await sql`
      select reason from public.sms_campaign_skips where campaign_id = ${campaignId!}::uuid`;
    assert.equal(skip.reason, "no_consent");

    const run = await invokeRetries();
    assert.equal(run.status, 200, run.text);
    const phones = tenant.customers.filter((c) => c.consent === "opted_in").map((c) => c.phone);
    const messages = (await sandboxMessages()).filter((m) => phones.includes(m.to));
    assert.equal(messages.length, 3, "one message per eligible customer");
    assert.deepEqual(new Set(messages.map((m) => m.to)), new Set(phones));
    assert.ok(messages.every((m) => m.body.startsWith("rel camp drain: Hi camp,")));

    // The sandbox's callbacks bring every log to delivered; the next run ends the campaign.
    await waitFor("delivered", async () => {
      const logs = await logsOf(sql, campaignId!);
      return logs.every((l) => l.status === "delivered");
    });
    await invokeRetries();
    const [c] = await sql`select status from public.sms_campaigns where id = ${campaignId!}::uuid`;
    assert.equal(c.status, "done");

    // Progress, as a signed-in member reads it (role authenticated, RLS), and as another sees it.
    const read = (userId: string) =>
      asUser(sql, { sub: userId, role: "authenticated" }, async (tx) => ({
        progress: await tx`
          select * from public.sms_campaign_progress where campaign_id = ${campaignId!}::uuid`,
        campaigns: await tx`select id from public.sms_campaigns where id = ${campaignId!}::uuid`,
        skips: await tx`
          select id from public.sms_campaign_skips where campaign_id = ${campaignId!}::uuid`,
      }));
    const mine = await read(info.seed.businesses[0].users[0].id);
    assert.equal(mine.progress[0].delivered, 3);
    assert.equal(mine.progress[0].segments_billed, 3);
    assert.equal(mine.progress[0].skipped, 1);
    assert.equal(mine.skips.length, 1);
    const theirs = await read(info.seed.businesses[1].users[0].id);
    assert.deepEqual(
      [theirs.progress.length, theirs.campaigns.length, theirs.skips.length],
      [0, 0, 0],
      "another business sees nothing",
    );
  });
});

Deno.test("campaigns: consent withdrawn after enqueue — that customer gets nothing", async () => {
  await withTenant("camp stop", [{ timeZone: day() }, { timeZone: day() }], async (sql, tenant) => {
    const created = await campaigns(
      createBody(tenant, "stop", { audience: { customerIds: tenant.customers.map((c) => c.id) } }),
    );
    assert.equal(created.status, 201, created.text);
    const [stopper, other] = tenant.customers;
    const stop = await sandboxApi("/api/inbound", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ from: stopper.phone, body: "STOP" }),
    }) as { status: number };
    assert.equal(stop.status, 200);
    await invokeRetries();
    const sent = (await sandboxMessages()).filter((m) => m.body.includes("spring offer"));
    assert.deepEqual(
      sent.map((m) => m.to).filter((p) => [stopper.phone, other.phone].includes(p)),
      [
        other.phone,
      ],
    );
    const logs = await logsOf(sql, json<Figures>(created).campaignId!);
    assert.equal(logs.find((l) => l.to_phone === stopper.phone)?.status, "canceled");
  });
});

Deno.test("campaigns: cancel under a running drain — nothing queued is sent after it returns", async () => {
  const customers = Array.from({ length: 24 }, () => ({ timeZone: day() }));
  await withTenant("camp cancel", customers, async (sql, tenant) => {
    const created = await campaigns(createBody(tenant, "cancel"));
    assert.equal(created.status, 201, created.text);
    const campaignId = json<Figures>(created).campaignId!;
    // Twilio slow enough that the drain is mid-way when cancel comes.
    await sandboxConfig({ latencyMs: 300 });
    const drain = invokeRetries();
    await waitFor("a first message", async () => {
      const logs = await logsOf(sql, campaignId);
      return logs.some((l) => l.sid !== null);
    });
    const cancel = await campaigns({ action: "cancel", campaignId });
    assert.equal(cancel.status, 200, cancel.text);
    const answer = json<{ status: string; cancelled: number }>(cancel);
    assert.equal(answer.status, "cancelled");
    assert.ok(answer.cancelled > 0, cancel.text);
    // What had reached the sender when cancel returned: the only messages that may go out.
    const atCancel = await logsOf(sql, campaignId);
    const allowed = new Set(atCancel.filter((l) => l.status !== "canceled").map((l) => l.to_phone));
    await drain;
    const phones = new Set(tenant.customers.map((c) => c.phone));
    const sent = (await sandboxMessages()).filter((m) => phones.has(m.to));
    assert.deepEqual(sent.filter((m) => !allowed.has(m.to)).map((m) => m.to), []);
    const after = await logsOf(sql, campaignId);
    assert.equal(after.filter((l) => l.status === "canceled").length, answer.cancelled);
    assert.ok(after.filter((l) => l.status === "canceled").every((l) => l.sid === null));
    // A cancelled campaign cannot be paused (409) and nothing changes.
    const pause = await campaigns({ action: "pause", campaignId });
    assertContractError(pause, ["campaign_state_conflict"], "pause after cancel");
  });
});

Deno.test("campaigns: pause holds every queued row, resume releases them", async () => {
  await withTenant(
    "camp pause",
    [{ timeZone: day() }, { timeZone: day() }],
    async (sql, tenant) => {
      const created = await campaigns(createBody(tenant, "pause"));
      const campaignId = json<Figures>(created).campaignId!;
      const paused = await campaigns({ action: "pause", campaignId });
      assert.deepEqual(json(paused), { campaignId, status: "paused" });
      await invokeRetries();
      assert.deepEqual((await logsOf(sql, campaignId)).map((l) => l.status), [
        "deferred",
        "deferred",
      ]);
      const resumed = await campaigns({ action: "resume", campaignId });
      assert.deepEqual(json(resumed), { campaignId, status: "running" });
      await invokeRetries();
      assert.ok((await logsOf(sql, campaignId)).every((l) => l.sid !== null));
    },
  );
});

Deno.test("campaigns: bad input gets the contract's error and writes nothing", async () => {
  await withTenant("camp bad", [{ timeZone: day() }, { timeZone: day() }], async (sql, tenant) => {
    const base = createBody(tenant, "bad");
    const before = await snapshotAll(sql);
    const cases: [Record<string, unknown>, string, number][] = [
      [{ ...base, template: "Hi {{firstname}} {{ zip }}" }, "unknown_template_variable", 422],
      [{ ...base, audience: { filter: { states: ["ZZ"] } } }, "empty_audience", 422],
      [{ ...base, schedule: { kind: "at", at: "2020-01-01T00:00:00Z" } }, "invalid_schedule", 422],
      [
        { ...base, expiresAt: new Date(Date.now() - 3_600_000).toISOString() },
        "invalid_schedule",
        422,
      ],
      [{ ...base, audience: { customerIds: [crypto.randomUUID()] } }, "customer_not_found", 404],
      [{ ...base, businessId: info.seed.businesses[1].id }, "business_not_found", 404],
    ];
    for (const [body, code, status] of cases) {
      const a = await campaigns(body);
      assert.equal(a.status, status, `${code}: ${a.text}`);
      assertContractError(a, [code as never], code);
    }
    const unknown = await campaigns({ ...base, template: "Hi {{firstname}} {{ zip }}" });
    assert.deepEqual(
      (unknown.json as { error: { details: { unknown: string[] } } }).error.details.unknown,
      ["firstname", "zip"],
    );
    // Larger than what is left of the quota: refused with the numbers.
    await sql`update public.businesses set sms_daily_quota = 1 where id = ${tenant.businessId}`;
    const quota = await campaigns(base);
    assertContractError(quota, ["quota_exceeded"], "quota");
    assert.match(
      (quota.json as { error: { message: string } }).error.message,
      /a campaign of 2 messages; 1 of the 1 SMS/,
    );
    await sql`update public.businesses set sms_daily_quota = 1000000 where id = ${tenant.businessId}`;
    assert.deepEqual(changedTables(before, await snapshotAll(sql)), [], "nothing written");

    // Another business's member cannot touch a campaign (404, as if it did not exist).
    const created = await campaigns(base);
    const campaignId = json<Figures>(created).campaignId!;
    const foreign = await campaigns({ action: "pause", campaignId }, OTHER);
    assertContractError(foreign, ["campaign_not_found"], "foreign pause");
  });
});

Deno.test("campaigns: a create repeated under its idempotency key gets the first answer, once", async () => {
  await withTenant("camp idem", [{ timeZone: day() }, { timeZone: day() }], async (sql, tenant) => {
    const body = createBody(tenant, "idem", { idempotencyKey: "spring-2026" });
    // Concurrent duplicates: the second waits for the first's transaction, then replays it.
    const [a, b] = await Promise.all([campaigns(body), campaigns(body)]);
    assert.equal(a.status, 201, a.text);
    assert.equal(b.status, 201, b.text);
    assert.deepEqual(b.json, a.json);
    const later = await campaigns(body);
    assert.equal(later.status, 201, later.text);
    assert.deepEqual(later.json, a.json);
    const [{ n, logs }] = await sql`
      select count(*)::int as n,
             (select count(*)::int from public.send_logs l
               where l.business_id = ${tenant.businessId}::uuid) as logs
        from public.sms_campaigns where business_id = ${tenant.businessId}::uuid`;
    assert.deepEqual([n, logs], [1, 2], "one campaign, one log per customer");
    // The key with another request: refused, nothing written.
    const before = await snapshotAll(sql);
    const other = await campaigns({ ...body, template: "Hi {{first_name}}, a different offer." });
    assertContractError(other, ["idempotency_conflict"], "another request under the key");
    assert.equal(other.status, 409);
    assert.deepEqual(changedTables(before, await snapshotAll(sql)), [], "nothing written");
  });
});
