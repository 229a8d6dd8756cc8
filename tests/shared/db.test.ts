import assert from "node:assert/strict";
import { asUser, createDb, dbUrlFromEnv } from "@shared/runtime/db.ts";
import { stack } from "../support/stack.ts";

Deno.test("dbUrlFromEnv prefers SMS_DB_URL over SUPABASE_DB_URL", () => {
  assert.equal(dbUrlFromEnv({ SUPABASE_DB_URL: "a" }), "a");
  assert.equal(dbUrlFromEnv({ SUPABASE_DB_URL: "a", SMS_DB_URL: "b" }), "b");
  assert.equal(dbUrlFromEnv({}), undefined);
});

Deno.test("asUser runs as role authenticated with the user's claims, so RLS applies", async () => {
  const info = stack();
  const sql = createDb(info.dbUrl, { max: 1 });
  try {
    const [acme, bay] = info.seed.businesses;
    const user = acme.users[0];
    const seen = await asUser(sql, { sub: user.id, role: "authenticated" }, async (tx) => {
      const [who] = await tx`select current_user as role, auth.uid() as uid`;
      const rows = await tx`select distinct business_id from public.customers`;
      return { who, businesses: rows.map((r) => r.business_id) };
    });
    assert.equal(seen.who.role, "authenticated");
    assert.equal(seen.who.uid, user.id);
    assert.deepEqual(seen.businesses, [acme.id]);
    assert.ok(!seen.businesses.includes(bay.id));
    // The role is local to the transaction: the pooled connection is back to its owner.
    const [after] = await sql`select current_user as role`;
    assert.equal(after.role, "postgres");
  } finally {
    await sql.end();
  }
});
