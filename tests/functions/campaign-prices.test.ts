/**
 * Actual cost end to end: a campaign drains into the sandbox, which prices each sent message on
 * its resource only (segments × the configured price, never in a callback); a later
 * process-retries run reads the prices back from the Messages list and stores them, and
 * sms_campaign_progress shows what Twilio charged. A message the sandbox leaves unpriced stays
 * unpriced and is not counted; another business sees nothing.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { withCronPaused } from "../db/fixtures.ts";
import { db } from "../support/stack.ts";
import { asUser } from "@shared/runtime/db.ts";
import {
  callCampaigns as campaigns,
  info,
  invokeRetries,
  makeTenant,
  sandboxConfig,
  type Tenant,
  waitFor,
  zoneAtLocalHour,
} from "../reliability/support.ts";

const PRICE = 0.0079;

interface PricedLog {
  to_phone: string;
  status: string;
  segments: number;
  price: string | null;
  price_unit: string | null;
}

async function logsOf(sql: postgres.Sql, campaignId: string): Promise<PricedLog[]> {
  return [
    ...await sql<PricedLog[]>`
      select to_phone, status, segments, price::text as price, price_unit
        from public.send_logs where campaign_id = ${campaignId}::uuid order by to_phone`,
  ];
}

Deno.test("campaign prices: Twilio's prices are read back and the progress shows the actual cost", async () => {
  const sql = db(3);
  const zone = zoneAtLocalHour(13);
  const tenant: Tenant = await makeTenant(sql, "camp price", [
    { timeZone: zone },
    { timeZone: zone },
    { timeZone: zone },
  ]);
  const unpriced = tenant.customers[2].phone;
  try {
    await withCronPaused(sql, async () => {
      // Callbacks come well after the run that sends: it ends before any message is billed, so
      // the prices it would read are none, and what a later run reads is what gets stored.
      await sandboxConfig({
        pricePerSegment: PRICE,
        unpricedTo: [unpriced],
        callbackDelayMs: 2_000,
      });
      // Long enough for two segments: the cost is segments × price, not messages × price.
      const created = await campaigns({
        action: "create",
        name: "priced",
        businessId: tenant.businessId,
        template: `Hi {{first_name|there}}, ${"our spring offer is on this week. ".repeat(5)}`,
        audience: { filter: {} },
        schedule: { kind: "now" },
      });
      assert.equal(created.status, 201, created.text);
      const { campaignId } = created.json as { campaignId: string };

      const run = await invokeRetries();
      assert.equal(run.status, 200, run.text);
      assert.equal((run.json as { sent: number }).sent, 3);
      await waitFor("delivered", async () => {
        const logs = await logsOf(sql, campaignId);
        return logs.length === 3 && logs.every((l) => l.status === "delivered");
      });
      // Every callback came, and none carries a price.
      assert.deepEqual((await logsOf(sql, campaignId)).map((l) => l.price), [null, null, null]);
      const again = await invokeRetries();
      assert.equal(again.status, 200, again.text);

      const logs = await logsOf(sql, campaignId);
      assert.ok(logs.every((l) => l.segments === 2), JSON.stringify(logs));
      for (const l of logs) {
        if (l.to_phone === unpriced) {
          assert.deepEqual([l.price, l.price_unit], [null, null], "not priced by Twilio yet");
        } else {
          assert.deepEqual([Number(l.price), l.price_unit], [2 * PRICE, "USD"], l.to_phone);
        }
      }

      const read = (userId: string) =>
        asUser(sql, { sub: userId, role: "authenticated" }, async (tx) => [
          ...await tx<
            {
              priced: number;
              actual_cost: string;
              actual_currency: string;
              segments_billed: number;
              estimated_cost: string | null;
            }[]
          >`
            select priced, actual_cost::text, actual_currency, segments_billed,
                   estimated_cost::text
              from public.sms_campaign_progress where campaign_id = ${campaignId}::uuid`,
        ]);
      const [mine] = await read(info.seed.businesses[0].users[0].id);
      assert.equal(mine.segments_billed, 6);
      assert.equal(mine.priced, 2, "the unpriced message is not counted");
      assert.equal(Number(mine.actual_cost), 2 * 2 * PRICE);
      assert.equal(mine.actual_currency, "USD");
      assert.ok(mine.estimated_cost !== null, "the estimate beside it");
      const theirs = await read(info.seed.businesses[1].users[0].id);
      assert.equal(theirs.length, 0, "another business sees nothing");
    });
  } finally {
    await sandboxConfig({ reset: true }).catch(() => {});
    await tenant.drop();
    await sql.end();
  }
});
