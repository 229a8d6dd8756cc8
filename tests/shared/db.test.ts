import assert from "node:assert/strict";
import { asUser, createDb, dbUrlFromEnv, usesPreparedStatements } from "@shared/db.ts";
import { stack } from "../support/stack.ts";

Deno.test("dbUrlFromEnv prefers SMS_DB_URL over SUPABASE_DB_URL", () => {
  assert.equal(dbUrlFromEnv({ SUPABASE_DB_URL: "a" }), "a");
  assert.equal(dbUrlFromEnv({ SUPABASE_DB_URL: "a", SMS_DB_URL: "b" }), "b");
  assert.equal(dbUrlFromEnv({}), undefined);
});

Deno.test("usesPreparedStatements: not behind the transaction pooler, nor when the URL says no", () => {
  const direct = "postgresql://postgres:pw@db.abcd.supabase.co:5432/postgres";
  assert.equal(usesPreparedStatements(direct), true);
  assert.equal(
    usesPreparedStatements("postgresql://u:pw@localhost/postgres"),
    true,
    "default port",
  );
  assert.equal(
    usesPreparedStatements("postgresql://u.abcd:pw@aws-0-x.pooler.supabase.com:6543/postgres"),
    false,
    "Supavisor transaction mode",
  );
  assert.equal(usesPreparedStatements(`${direct}?prepare=false`), false);
  assert.equal(usesPreparedStatements(`${direct}?sslmode=require&prepare=false`), false);
  assert.equal(usesPreparedStatements("not a url"), false);
});

Deno.test("createDb prepares statements on a direct connection, and not when told not to", async () => {
  const info = stack();
  const named = async (url: string) => {
    const sql = createDb(url, { max: 1 });
    try {
      // Twice: postgres.js describes a parameterised statement the first time it runs it.
      for (let i = 0; i < 2; i++) await sql`select ${i}::int as n`;
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from pg_catalog.pg_prepared_statements`;
      return row.n;
    } finally {
      await sql.end();
    }
  };
  assert.ok(await named(info.dbUrl) > 0, "the stack's direct URL uses prepared statements");
  const sep = info.dbUrl.includes("?") ? "&" : "?";
  assert.equal(await named(`${info.dbUrl}${sep}prepare=false`), 0);
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
